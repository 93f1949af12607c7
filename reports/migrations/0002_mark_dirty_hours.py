"""Triggers that mark the hours a late change makes stale (reports.models.DirtyHour), on
PostgreSQL; SQLite reports read the rows themselves (reports.summary)."""

from django.db import migrations

# An hour is marked only once it is over (the current hour is never tallied: reports.rollup
# waits for the transactions that began in it). Each change adds a mark of its own: it never
# waits for another writer or the rollup task.
MARK_HOUR = """
CREATE FUNCTION reports_mark_hour(at timestamptz) RETURNS void AS $$
BEGIN
    IF at < date_trunc('hour', clock_timestamp(), 'UTC') THEN
        INSERT INTO reports_dirtyhour (hour) VALUES (date_trunc('hour', at, 'UTC'));
    END IF;
END $$ LANGUAGE plpgsql;

CREATE FUNCTION reports_incident_opened(incident bigint) RETURNS timestamptz AS $$
    SELECT created_at FROM dispatch_incident WHERE id = incident
$$ LANGUAGE sql STABLE;

-- A call counts in its own hour, and its pick-up in its incident's (answer to dispatch).
CREATE FUNCTION reports_call_changed() RETURNS trigger AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM reports_mark_hour(OLD.started_at);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM reports_mark_hour(NEW.started_at);
    END IF;
    IF TG_OP = 'UPDATE' AND (OLD.incident_id, OLD.picked_up_at, OLD.abandoned, OLD.channel,
            OLD.direction) IS NOT DISTINCT FROM (NEW.incident_id, NEW.picked_up_at,
            NEW.abandoned, NEW.channel, NEW.direction) THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' AND OLD.incident_id IS NOT NULL THEN
        PERFORM reports_mark_hour(reports_incident_opened(OLD.incident_id));
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.incident_id IS NOT NULL THEN
        PERFORM reports_mark_hour(reports_incident_opened(NEW.incident_id));
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE FUNCTION reports_incident_changed() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND (OLD.created_at, OLD.category_id, OLD.area_id, OLD.dispatched_at)
            IS NOT DISTINCT FROM (NEW.created_at, NEW.category_id, NEW.area_id,
            NEW.dispatched_at) THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        PERFORM reports_mark_hour(OLD.created_at);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM reports_mark_hour(NEW.created_at);
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE FUNCTION reports_assignment_changed() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND (OLD.created_at, OLD.acknowledged_at, OLD.escalation_level,
            OLD.agency_id) IS NOT DISTINCT FROM (NEW.created_at, NEW.acknowledged_at,
            NEW.escalation_level, NEW.agency_id) THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        PERFORM reports_mark_hour(OLD.created_at);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM reports_mark_hour(NEW.created_at);
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER reports_call_changed AFTER INSERT OR UPDATE OR DELETE ON calls_call
    FOR EACH ROW EXECUTE FUNCTION reports_call_changed();
CREATE TRIGGER reports_incident_changed AFTER INSERT OR UPDATE OR DELETE ON dispatch_incident
    FOR EACH ROW EXECUTE FUNCTION reports_incident_changed();
CREATE TRIGGER reports_assignment_changed AFTER INSERT OR UPDATE OR DELETE
    ON dispatch_assignment FOR EACH ROW EXECUTE FUNCTION reports_assignment_changed();
"""

UNMARK_HOUR = """
DROP TRIGGER reports_call_changed ON calls_call;
DROP TRIGGER reports_incident_changed ON dispatch_incident;
DROP TRIGGER reports_assignment_changed ON dispatch_assignment;
DROP FUNCTION reports_call_changed();
DROP FUNCTION reports_incident_changed();
DROP FUNCTION reports_assignment_changed();
DROP FUNCTION reports_incident_opened(bigint);
DROP FUNCTION reports_mark_hour(timestamptz);
"""


def on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            with schema_editor.connection.cursor() as cursor:
                cursor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0001_rollups"),
        ("calls", "0004_messages"),
        ("dispatch", "0009_incident_search_indexes"),
    ]

    operations = [migrations.RunPython(on_postgresql(MARK_HOUR), on_postgresql(UNMARK_HOUR))]
