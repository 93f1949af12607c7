"""Small helpers shared by the API tests: incidents in a known state, and short API calls."""

from agencies.models import Agency, Area, Category, User
from dispatch import incidents
from tests.conftest import make_user

API = "/api/v1"
# Kelurahan Citangkil in Kecamatan Citangkil (36.72.08).
KELURAHAN = "36.72.08.1007"
KECAMATAN = "36.72.08"


def api_url(resource, key=None, action=None):
    """`api_url("incidents", 7, "dispatch")` → `/api/v1/incidents/7/dispatch/`."""
    return "/".join(str(part) for part in (API, resource, key, action) if part is not None) + "/"


def incident_url(incident_id, action=None):
    return api_url("incidents", incident_id, action)


def assignment_url(assignment_id, action=None):
    return api_url("assignments", assignment_id, action)


def post_json(client, url, data=None):
    return client.post(url, data if data is not None else {}, format="json")


def patch_json(client, url, data):
    return client.patch(url, data, format="json")


def new_incident(category="FIRE", area=KELURAHAN, **fields):
    """An open, undispatched incident, created the way the API creates one."""
    return incidents.create_incident(
        actor=None,
        category=Category.objects.get(code=category) if category else None,
        area=Area.objects.get(code=area) if area else None,
        **fields,
    )


def agencies_by_code(codes):
    return list(Agency.objects.filter(code__in=codes)) if codes is not None else None


def dispatched_incident(category="FIRE", area=KELURAHAN, agencies=None):
    """An incident dispatched by the routing rules (or to `agencies`, codes). Returns the
    incident and its assignments keyed by agency code."""
    incident = new_incident(category, area)
    created = incidents.dispatch(incident.pk, actor=None, agencies=agencies_by_code(agencies))
    incident.refresh_from_db()
    return incident, {assignment.agency.code: assignment for assignment in created}


def staff_of(agency_code, username=None):
    return make_user(
        username or f"{agency_code.lower()}_member", User.Role.AGENCY_STAFF, agency_code
    )


def acknowledge(client, assignment):
    return post_json(client, assignment_url(assignment.pk, "acknowledge"))


def report(client, assignment, status, note=None):
    data = {"status": status} if note is None else {"status": status, "note": note}
    return post_json(client, assignment_url(assignment.pk, "status"), data)


def assert_names(response, field):
    """A 400 whose body names what is wrong."""
    assert response.status_code == 400, (response.status_code, response.data)
    assert field in response.data, response.data


def results(response):
    assert response.status_code == 200, response.data
    return response.data["results"]


def ids(response):
    return sorted(row["id"] for row in results(response))


def follow_replay(client, after=0):
    """Every seq `GET /api/v1/events/?after=` hands a client that follows it from `after`."""
    followed = []
    while True:
        page = client.get(f"{API}/events/?after={after}&page_size=200").json()["results"]
        if not page:
            return followed
        followed += [envelope["seq"] for envelope in page]
        after = page[-1]["seq"]


def every_seq():
    from dispatch.models import IncidentEvent

    return list(IncidentEvent.objects.order_by("seq").values_list("seq", flat=True))
