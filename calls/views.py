"""Twilio webhooks (CONTRACT §4). Thin: check the signature, hand the parameters to `intake`."""

import logging
from functools import wraps

from django.http import HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from calls import duty, intake, twiml
from calls.signatures import is_signed_by_twilio

logger = logging.getLogger(__name__)


def twilio_webhook(view):
    """Only signed POSTs from Twilio reach the view; anything else is 403 and writes nothing."""

    @csrf_exempt
    @require_POST
    @wraps(view)
    def checked(request, *args, **kwargs):
        if not is_signed_by_twilio(request):
            logger.warning("refused unsigned Twilio request to %s", request.path)
            return HttpResponseForbidden("invalid signature")
        return view(request, *args, **kwargs)

    return checked


def twiml_response(body):
    return HttpResponse(body, content_type="text/xml; charset=utf-8")


@twilio_webhook
def voice(request):
    """Record the call and queue the caller. Whatever fails inside, the caller stays connected:
    a 112 caller never hears an application error."""
    try:
        if not request.POST.get("CallSid"):
            raise ValueError("no CallSid")
        intake.receive_call(request.POST)
    except Exception:
        logger.exception("voice intake failed; answering with the fallback TwiML")
        return twiml_response(twiml.fallback())
    return twiml_response(twiml.queue_for_operator())


@twilio_webhook
def status(request):
    if not request.POST.get("CallSid"):
        return HttpResponse("CallSid is required", status=400)
    intake.apply_status_callback(request.POST)
    return HttpResponse(status=204)


@twilio_webhook
def sms(request):
    if not request.POST.get("MessageSid"):
        return HttpResponse("MessageSid is required", status=400)
    call, _created = intake.receive_sms(request.POST)
    return twiml_response(twiml.sms_received(call.incident.reference))


@twilio_webhook
def duty_call(request, notification_id):
    """What the agency's duty officer hears when an escalation phones them."""
    return twiml_response(duty.briefing(notification_id))


@twilio_webhook
def duty_answer(request, notification_id):
    """The duty officer pressed a key: 1 acknowledges the assignment on the agency's behalf."""
    return twiml_response(duty.answer(notification_id, request.POST.get("Digits", "")))
