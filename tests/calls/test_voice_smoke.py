from calls.models import Call
from dispatch.models import Incident, IncidentEvent
from tests.conftest import post_signed


def test_signed_voice_call_opens_an_incident(client, cilegon):
    params = {"CallSid": "CA1", "From": "081234567890", "To": "112", "CallStatus": "ringing"}
    response = post_signed(client, "/calls/twilio/voice/", params)
    assert response.status_code == 200
    assert b"<Enqueue" in response.content
    call = Call.objects.get(sid="CA1")
    assert call.from_number == "+6281234567890"
    assert Incident.objects.get().caller_phone == "+6281234567890"
    assert list(IncidentEvent.objects.values_list("type", flat=True)) == [
        "incident.created",
        "call.created",
    ]
