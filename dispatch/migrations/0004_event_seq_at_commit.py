"""Event seqs in commit order (CONTRACT §7: the replay never skips).

PostgreSQL: a BEFORE INSERT trigger gives each new event a provisional seq (its id plus
PROVISIONAL_SEQ_OFFSET), so the inserting transaction sees its own events in order; a deferred
constraint trigger — it runs while the transaction commits — takes an advisory lock and gives the
event its final seq from a sequence of its own. The lock is held until the commit is visible, so
a seq is never handed out while a lower one is still invisible. SQLite allows one writer at a
time: there the seq is the id. Existing events keep their ids as seqs.
"""

from django.db import migrations, models

from dispatch.models import PROVISIONAL_SEQ_OFFSET

# Any constant of our own: the lock that orders the commits of event-writing transactions.
COMMIT_ORDER_LOCK = 112_000_001

POSTGRES_FORWARD = f"""
UPDATE dispatch_incidentevent SET seq = id;
CREATE SEQUENCE dispatch_incidentevent_commit_seq;
SELECT setval('dispatch_incidentevent_commit_seq',
              (SELECT COALESCE(max(id), 0) + 1 FROM dispatch_incidentevent), false);

CREATE FUNCTION dispatch_event_provisional_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.seq := NEW.id + {PROVISIONAL_SEQ_OFFSET};
    RETURN NEW;
END $$;
CREATE TRIGGER dispatch_event_provisional_seq BEFORE INSERT ON dispatch_incidentevent
    FOR EACH ROW EXECUTE FUNCTION dispatch_event_provisional_seq();

CREATE FUNCTION dispatch_event_final_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock({COMMIT_ORDER_LOCK});
    UPDATE dispatch_incidentevent
       SET seq = nextval('dispatch_incidentevent_commit_seq')
     WHERE id = NEW.id;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER dispatch_event_final_seq AFTER INSERT ON dispatch_incidentevent
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION dispatch_event_final_seq();
"""

POSTGRES_BACKWARD = """
DROP TRIGGER dispatch_event_final_seq ON dispatch_incidentevent;
DROP FUNCTION dispatch_event_final_seq();
DROP TRIGGER dispatch_event_provisional_seq ON dispatch_incidentevent;
DROP FUNCTION dispatch_event_provisional_seq();
DROP SEQUENCE dispatch_incidentevent_commit_seq;
"""

SQLITE_FORWARD = [
    "UPDATE dispatch_incidentevent SET seq = id",
    """CREATE TRIGGER dispatch_event_seq AFTER INSERT ON dispatch_incidentevent
       BEGIN UPDATE dispatch_incidentevent SET seq = NEW.id WHERE id = NEW.id; END""",
]
SQLITE_BACKWARD = ["DROP TRIGGER dispatch_event_seq"]


def run(statements_by_vendor):
    def apply(apps, schema_editor):
        statements = statements_by_vendor.get(schema_editor.connection.vendor)
        if statements is None:
            raise RuntimeError(f"no event seq triggers for {schema_editor.connection.vendor}")
        for statement in [statements] if isinstance(statements, str) else statements:
            schema_editor.execute(statement)

    return apply


class Migration(migrations.Migration):
    dependencies = [
        ("dispatch", "0003_assignment_created_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="incidentevent",
            name="seq",
            field=models.BigIntegerField(editable=False, null=True, unique=True),
        ),
        migrations.AlterModelOptions(
            name="incidentevent",
            options={"ordering": ["seq"]},
        ),
        migrations.RunPython(
            run({"postgresql": POSTGRES_FORWARD, "sqlite": SQLITE_FORWARD}),
            run({"postgresql": POSTGRES_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        ),
    ]
