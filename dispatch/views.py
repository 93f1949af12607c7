from django.contrib.auth.decorators import login_required
from django.shortcuts import render


def softphone_configured():
    """Whether the browser softphone has its Twilio settings (the page then loads the SDK)."""
    try:
        from calls.telephony import softphone_configured as configured
    except ImportError:  # an older backend without the softphone
        return False
    return configured()


@login_required
def home(request):
    """The console for the signed-in role (the live consoles come with the WebSocket)."""
    if request.user.is_command_centre:
        return render(
            request,
            "dispatch/command_centre.html",
            {"softphone_configured": softphone_configured()},
        )
    return render(request, "dispatch/agency_console.html")
