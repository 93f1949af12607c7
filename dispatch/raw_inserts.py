"""Rows written by hand-made statements, on the hot path where one statement replaces several
of the ORM's."""

from functools import cache

from django.db import DEFAULT_DB_ALIAS, connection, connections


def insert_columns(instance, skip=()):
    """The quoted columns and the values the ORM's INSERT would write for `instance` (field
    defaults, auto_now stamps — set on the instance as the ORM sets them), but the fields named
    in `skip`."""
    # The thread's own wrapper, looked up once: through the `connection` proxy every attribute
    # a field's preparation reads is a lookup of its own (about a hundred per new call).
    database = connections[DEFAULT_DB_ALIAS]
    fields, columns = written_fields(type(instance), tuple(skip))
    values = [f.get_db_prep_save(f.pre_save(instance, add=True), database) for f in fields]
    return columns, values


@cache
def written_fields(model, skip):
    fields = tuple(f for f in model._meta.concrete_fields if f.name not in skip)
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    return fields, tuple(quote(f.column) for f in fields)


def fetch_one(sql, params):
    """Run a hand-made statement and return its one row."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def mark_saved(*instances):
    """Instances inserted by hand are, to the ORM, saved rows of the default database."""
    for instance in instances:
        instance._state.adding, instance._state.db = False, connection.alias
