"""The replay's `?after=<seq>` (not a list filter, so not django-filter's): a bad value is a 400
that names the parameter."""

from rest_framework.exceptions import ValidationError


def id_param(request, name):
    """An optional `?name=<seq>`: digits only or a 400 naming the parameter ("²" is a digit to
    Python but not a number)."""
    value = request.query_params.get(name)
    if value is not None and not value.isdecimal():
        raise ValidationError({name: ["Must be a whole number (an id)."]})
    return value
