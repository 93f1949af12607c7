"""The supervisors' pages over the reports (CONTRACT §11): `/reports/` draws a period's summary
with charts, `/wall/` shows the command centre now — live, in large type — with today's
15-second share. Both read the API from the browser; supervisors and admins only."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import HttpResponseForbidden
from django.shortcuts import render
from django.urls import reverse

from calls.models import Call
from dispatch.api.permissions import is_supervisor
from dispatch.views import console_config, labels
from reports.summary import GOALS


def supervisors_only(view):
    @login_required
    @wraps(view)
    def checked(request, *args, **kwargs):
        if not is_supervisor(request.user):
            return HttpResponseForbidden()
        return view(request, *args, **kwargs)

    return checked


def reports_config():
    """What the pages' scripts need from the server: where the summary is, the standards'
    goals, the classifications' names."""
    return {
        "summary_url": reverse("reports-summary"),
        "goals": GOALS,
        "classifications": labels(Call.Classification.choices),
    }


def page_context():
    # The shared modules (static/js/ui.js) read the consoles' labels as well.
    return {"reports_config": reports_config(), "console_config": console_config()}


@supervisors_only
def reports_page(request):
    return render(request, "reports/reports.html", page_context())


@supervisors_only
def wall(request):
    return render(request, "reports/wall.html", page_context())
