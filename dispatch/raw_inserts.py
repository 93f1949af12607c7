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


def fetch_one(sql, params, *, last=False):
    """Run a hand-made statement and return its one row. `last=True` says it is the
    transaction's last statement: when that transaction is the outermost `atomic` block's,
    its COMMIT goes with the statement in one round trip (psycopg's pipeline), and the block's
    own commit then finds nothing to do. A row lock the statement takes — the day's reference
    counter — is then held for the database's own work only, not while the request's thread
    waits for the GIL to send the COMMIT (under load most intakes queued on that lock;
    bench/RESULTS.md). Inside an enclosing transaction (a caller's, a test's) nothing is
    committed early. A COMMIT that fails — a deferred constraint — raises here, inside the
    block, which then rolls back and drops its on-commit callbacks, as after a failed commit of
    its own. Keep what follows a last statement in the block trivial: an exception there finds
    the rows committed and drops the callbacks (the dashboards then get the events from the
    replay, and the caller the fallback answer)."""
    with connection.cursor() as cursor:
        if not (last and ends_outermost_transaction()):
            cursor.execute(sql, params)
            return cursor.fetchone()
        database = connection.connection
        # Django's errors, as from its own commit. Both queued, both answered at the
        # pipeline's one sync (`database.commit()` would sync once more on its own).
        with connection.wrap_database_errors, database.pipeline():
            cursor.execute(sql, params)
            database.execute("COMMIT")
        return cursor.fetchone()


def ends_outermost_transaction():
    """Whether the current `atomic` block is the outermost and commits on exit (Django keeps
    no savepoint for it), on PostgreSQL."""
    return (
        connection.vendor == "postgresql"
        and connection.in_atomic_block
        and connection.commit_on_exit
        and not connection.savepoint_ids
        and not connection.needs_rollback
    )


def mark_saved(*instances):
    """Instances inserted by hand are, to the ORM, saved rows of the default database."""
    for instance in instances:
        instance._state.adding, instance._state.db = False, connection.alias
