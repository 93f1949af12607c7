"""The first complete slice, through the API: call → incident → dispatch → acknowledge →
progress → resolved."""

from calls.models import Call
from dispatch.models import Assignment, Incident
from tests.conftest import api_as, post_signed


def test_call_to_completed_assignment(client, operator, dpkp_staff):
    post_signed(client, "/calls/twilio/voice/", {"CallSid": "CAflow", "From": "0812-3456-7890"})
    incident = Incident.objects.get()
    ops = api_as(operator)

    response = ops.patch(
        f"/api/v1/incidents/{incident.id}/",
        {"category": "FIRE", "area": "36.72.08.1007", "description": "Rumah terbakar"},
        format="json",
    )
    assert response.status_code == 200, response.data
    assert response.data["priority"] == 1
    assert ops.get(f"/api/v1/incidents/{incident.id}/routing/").data["agencies"] == ["DPKP"]

    response = ops.post(f"/api/v1/incidents/{incident.id}/dispatch/", {}, format="json")
    assert response.status_code == 200, response.data
    assert response.data["status"] == "dispatched"
    [assignment] = response.data["assignments"]
    assert assignment["agency"] == "DPKP"
    assert assignment["escalate_at"] is not None

    staff = api_as(dpkp_staff)
    response = staff.post(f"/api/v1/assignments/{assignment['id']}/acknowledge/")
    assert response.status_code == 200, response.data
    assert response.data["acknowledged_by"] == "dpkp_staff"
    assert staff.post(f"/api/v1/assignments/{assignment['id']}/acknowledge/").status_code == 409

    for step in ("en_route", "on_scene", "completed"):
        response = staff.post(
            f"/api/v1/assignments/{assignment['id']}/status/", {"status": step}, format="json"
        )
        assert response.status_code == 200, response.data

    incident.refresh_from_db()
    assert incident.status == "resolved"
    assert Assignment.objects.get().status == "completed"
    timeline = ops.get(f"/api/v1/incidents/{incident.id}/events/").data["results"]
    assert [event["type"] for event in timeline] == [
        "incident.created",
        "call.created",
        "incident.updated",
        "incident.dispatched",
        "assignment.created",
        "assignment.acknowledged",
        "incident.in_progress",
        "assignment.en_route",
        "assignment.on_scene",
        "assignment.completed",
        "incident.resolved",
    ]
    calls = ops.get("/api/v1/calls/").data["results"]
    assert calls[0]["incident"] == incident.id
    assert Call.objects.get().from_number == "+6281234567890"
