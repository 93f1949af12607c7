"""Event payloads at the price of their fields. DRF builds a serializer's fields anew for every
instance, and that costs several times the serializing itself (3.4 of 3.7 ms for a call on the
voice webhook's path): on the hot paths a serializer built once per process does the work."""

import functools


@functools.cache
def bound_serializer(serializer_class):
    return serializer_class()


def serialized(serializer_class, instance):
    """What `serializer_class(instance).data` holds, for a read-only serializer that needs no
    context. Its fields are only read while serializing, so threads may share it."""
    return bound_serializer(serializer_class).to_representation(instance)
