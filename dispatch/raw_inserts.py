"""Rows written by hand-made statements, on the hot path where one statement replaces several
of the ORM's."""

from django.db import connection


def insert_columns(instance, skip=()):
    """The quoted columns and the values the ORM's INSERT would write for `instance` (field
    defaults, auto_now stamps — set on the instance as the ORM sets them), but the fields named
    in `skip`."""
    fields = [f for f in instance._meta.concrete_fields if f.name not in skip]
    values = [f.get_db_prep_save(f.pre_save(instance, add=True), connection) for f in fields]
    return [connection.ops.quote_name(f.column) for f in fields], values


def mark_saved(*instances):
    """Instances inserted by hand are, to the ORM, saved rows of the default database."""
    for instance in instances:
        instance._state.adding, instance._state.db = False, connection.alias
