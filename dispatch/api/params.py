"""Query parameters of the API's lists: a bad value is a 400 that names the parameter."""

from rest_framework.exceptions import ValidationError


def filter_choices(queryset, request, field, choices):
    """`?status=a,b` style filters; an unknown value is a 400 that names the parameter."""
    raw = request.query_params.get(field)
    if not raw:
        return queryset
    values = raw.split(",")
    unknown = sorted(set(values) - set(choices))
    if unknown:
        raise ValidationError({field: [f"Unknown value: {', '.join(unknown)}"]})
    return queryset.filter(**{f"{field}__in": values})


def id_param(request, name):
    """An optional `?name=<id>` filter: a whole number or a 400 naming the parameter."""
    value = request.query_params.get(name)
    if value is not None and not value.isdecimal():
        raise ValidationError({name: ["Must be a whole number (an id)."]})
    return value


def text_param(request, name):
    """A free-text query parameter. PostgreSQL refuses a NUL character in text, so one is a 400
    here instead of a 500 from the database."""
    value = request.query_params.get(name)
    if value and "\x00" in value:
        raise ValidationError({name: ["Must not contain a NUL character."]})
    return value


def bool_param(request, name):
    """An optional `?name=true|false` filter: None when absent, else a bool or a 400."""
    value = request.query_params.get(name)
    if value is None:
        return None
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise ValidationError({name: ["Must be true or false."]})
