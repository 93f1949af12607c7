from django.apps import apps
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.defaults import server_error

from agencies.models import Agency, Area, Category, EscalationAction
from dispatch import duplicates, escalation, incidents, visibility
from dispatch.api.filters import IncidentFilter
from dispatch.models import Assignment, Incident, Notification
from telephony.softphone import softphone_configured

# Twilio's call statuses (and "received" for an SMS) as the consoles name them.
CALL_STATUS_LABELS = {
    "queued": _("Queued"),
    "initiated": _("Initiated"),
    "ringing": _("Ringing"),
    "in-progress": _("In call"),
    "completed": _("Completed"),
    "busy": _("Busy"),
    "failed": _("Failed"),
    "no-answer": _("No answer"),
    "canceled": _("Hung up"),
    "received": _("SMS received"),
}
# Where a text of a conversation stands (calls.models.MESSAGE_STATUS_RANK).
MESSAGE_STATUS_LABELS = {
    "received": _("Received"),
    "queued": _("Sending…"),
    "accepted": _("Sending…"),
    "scheduled": _("Sending…"),
    "sending": _("Sending…"),
    "sent": _("Sent"),
    "simulated": _("Simulated (demo)"),
    "delivered": _("Delivered"),
    "undelivered": _("Not delivered"),
    "failed": _("Failed"),
    "canceled": _("Cancelled"),
    "read": _("Read"),
}
BOARD_STATUSES = (*Incident.OPEN_STATUSES, Incident.Status.RESOLVED)


# The questions an operator texts most: (button, text). The button is in the page's language;
# the text is in Bahasa Indonesia whatever the operator's screen speaks: it goes to the caller.
QUICK_REPLIES = [
    (
        _("Location?"),
        "Mohon kirim lokasi Anda: nama jalan, nomor rumah, RT/RW, kelurahan, dan patokan terdekat.",
    ),
    (
        _("Injured?"),
        "Apakah ada korban luka atau orang terjebak? Berapa orang dan bagaimana kondisinya?",
    ),
    (_("Safe?"), "Apakah Anda sekarang berada di tempat yang aman?"),
    (
        _("Help is on the way"),
        "Bantuan sedang menuju lokasi Anda. Tetap di tempat yang aman dan jangan matikan "
        "ponsel Anda.",
    ),
    (
        _("Call 112 if you can"),
        "Jika aman untuk berbicara, silakan telepon 112. Jika tidak, balas SMS ini.",
    ),
]


def quick_replies():
    """The quick replies, each text signed with the centre's name."""
    return [
        {"label": str(button), "text": f"112 {settings.CITY_NAME}: {text}"}
        for button, text in QUICK_REPLIES
    ]


def labels(choices):
    return {value: str(label) for value, label in choices}


def progress_reports():
    """For each assignment status, the reports (en route, on scene, completed, declined) the
    domain accepts from it — asked of `incidents.check_progress` itself, not copied."""
    table = {}
    for current in Assignment.Status.values:
        table[current] = []
        for report in incidents.TIMESTAMP_FIELD:
            try:
                incidents.check_progress(current, report)
            except incidents.Conflict:
                continue
            table[current].append(str(report))
    return table


def console_config():
    """The rules and labels both consoles need, in the page's language: rendered with
    json_script and read by static/js/config.js, so the JavaScript keeps no copy of a status
    set, an order or a label."""
    # The console shows calls too; the calls app sits above dispatch (imports run calls →
    # dispatch), so its model is looked up, not imported.
    call = apps.get_model("calls", "Call")
    return {
        "incident": {
            "labels": labels(Incident.Status.choices),
            "open": [str(s) for s in Incident.OPEN_STATUSES],
            "ended": [str(s) for s in Incident.ENDED_STATUSES],
            "board": [str(s) for s in BOARD_STATUSES],
            "close_reasons": labels(Incident.CloseReason.choices),
            "location_sources": labels(Incident.LocationSource.choices),
            "aml_methods": labels(Incident.AMLMethod.choices),
            "similar_reasons": labels(duplicates.REASONS.items()),
        },
        "assignment": {
            "labels": labels(Assignment.Status.choices),
            "active": [str(s) for s in Assignment.ACTIVE_STATUSES],
            "reports": progress_reports(),
        },
        "call": {
            "labels": labels(CALL_STATUS_LABELS.items()),
            "queue_states": labels(call.QueueState.choices),
            "live_queue_states": [
                str(s) for s in call.QueueState.values if s != call.QueueState.ENDED
            ],
            "classifications": labels(call.Classification.choices),
        },
        "escalation": {
            "actions": labels(EscalationAction.choices),
            "taken_back": {key: str(value) for key, value in escalation.TAKEN_BACK.items()},
        },
        "delivery": labels(Notification.Status.choices),
        "message": {
            "labels": labels(MESSAGE_STATUS_LABELS.items()),
            "quick_replies": quick_replies(),
        },
        "map": {
            "tile_url": settings.MAP_TILE_URL,
            "attribution": settings.MAP_TILE_ATTRIBUTION,
        },
    }


@login_required
def home(request):
    """The console for the signed-in role (the live consoles come with the WebSocket)."""
    config = console_config()
    if request.user.is_command_centre:
        board = [(status, config["incident"]["labels"][status]) for status in BOARD_STATUSES]
        # The page loads the Twilio SDK only when the softphone has its settings.
        return render(
            request,
            "dispatch/command_centre.html",
            {
                "softphone_configured": softphone_configured(),
                "console_config": config,
                "board": board,
                "close_reasons": Incident.CloseReason.choices,
            },
        )
    return render(request, "dispatch/agency_console.html", {"console_config": config})


HISTORY_PAGE_SIZE = 25


def history_search(request):
    """The history's search is the incident list's (IncidentFilter), over the incidents this
    user may see; with no status chosen, every ended one."""
    query = request.GET.copy()
    if not query.get("status"):
        query["ended"] = "1"
    assignments = visibility.assignments_for(request.user).select_related("agency")
    incidents_seen = (
        visibility.incidents_for(request.user)
        .select_related("category", "area__parent")
        .prefetch_related(Prefetch("assignments", queryset=assignments))
    )
    return IncidentFilter(query, queryset=incidents_seen, request=request)


@login_required
def history(request):
    """Ended incidents, searchable (issue 11): every role, each seeing what the API shows it
    (agency staff their agency's incidents). The timeline and reopening (command centre only)
    come from the API in static/js/history.js."""
    search = history_search(request)
    valid = search.is_valid()
    page = Paginator(search.qs if valid else Incident.objects.none(), HISTORY_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    other_params = request.GET.copy()
    other_params.pop("page", None)
    context = {
        "console_config": console_config(),
        "page": page,
        "errors": search.errors,
        "query": request.GET,
        "other_params": other_params.urlencode(),
        "ended_statuses": [(status, status.label) for status in Incident.ENDED_STATUSES],
        "categories": Category.objects.order_by("name"),
        "kecamatan": Area.objects.filter(kind=Area.Kind.KECAMATAN).order_by("name"),
        "agencies": Agency.objects.order_by("code") if request.user.is_command_centre else (),
        "can_reopen": request.user.is_command_centre,
    }
    return render(request, "dispatch/history.html", context, status=200 if valid else 400)


def failure(request):
    """An unexpected failure outside a DRF view (middleware, say): JSON for the API's clients,
    the usual page for people."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Internal server error."}, status=500)
    return server_error(request)
