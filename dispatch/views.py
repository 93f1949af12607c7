from django.contrib.auth.decorators import login_required
from django.shortcuts import render


@login_required
def home(request):
    """The console for the signed-in role (the live consoles come with the WebSocket)."""
    template = (
        "dispatch/command_centre.html"
        if request.user.is_command_centre
        else "dispatch/agency_console.html"
    )
    return render(request, template)
