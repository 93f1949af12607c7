from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render
from django.views.defaults import server_error

from telephony.softphone import softphone_configured


@login_required
def home(request):
    """The console for the signed-in role (the live consoles come with the WebSocket)."""
    if request.user.is_command_centre:
        # The page loads the Twilio SDK only when the softphone has its settings.
        return render(
            request,
            "dispatch/command_centre.html",
            {"softphone_configured": softphone_configured()},
        )
    return render(request, "dispatch/agency_console.html")


def failure(request):
    """An unexpected failure outside a DRF view (middleware, say): JSON for the API's clients,
    the usual page for people."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Internal server error."}, status=500)
    return server_error(request)
