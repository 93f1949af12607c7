"""Twilio webhooks (CONTRACT §4, §9). Thin: check the signature, make the parameters storable
(`twilio_params`), hand them to `intake` (records) or `answering` (the caller's way to an
operator), answer TwiML. Also the Indonesian SMS gateway's JSON webhook (§10, `gateway`)."""

import contextlib
import logging
from functools import wraps

from django.http import HttpResponse, HttpResponseForbidden, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from calls import answering, conversation, duty, gateway, intake, twilio_params, twiml
from calls.metrics import WEBHOOK_SECONDS
from calls.models import Call
from calls.signatures import is_signed_by_twilio

logger = logging.getLogger(__name__)


def twilio_webhook(view):
    """Only signed POSTs from Twilio reach the view; anything else is 403 and writes nothing.
    The view reads `request.twilio`: the parameters the signature covered, made storable.
    Timed for /metrics (`dispatch_webhook_seconds`, kept per web process)."""

    latency = WEBHOOK_SECONDS.labels(endpoint=view.__name__)

    @csrf_exempt
    @require_POST
    @wraps(view)
    @latency.time()
    def checked(request, *args, **kwargs):
        if not is_signed_by_twilio(request):
            logger.warning("refused unsigned Twilio request to %s", request.path)
            return HttpResponseForbidden("invalid signature")
        request.twilio = twilio_params.clean(request.POST)
        return view(request, *args, **kwargs)

    return checked


def twiml_response(body):
    return HttpResponse(body, content_type="text/xml; charset=utf-8")


@twilio_webhook
def voice(request):
    """Record the call and queue the caller. Whatever fails inside, the caller stays connected:
    a 112 caller never hears an application error. A new call's webhook is answered before it
    gets here, on the event loop (`config.fastlane`); this view answers the rest: a retry, a
    call whose handset position came first, a database without PostgreSQL."""
    try:
        if not request.twilio.get("CallSid"):
            raise ValueError("no CallSid")
        intake.receive_call(request.twilio)
    except Exception:
        logger.exception("voice intake failed; answering with the fallback TwiML")
        return twiml_response(twiml.fallback())
    return twiml_response(twiml.queue_for_operator())


@twilio_webhook
def status(request):
    if not request.twilio.get("CallSid"):
        return HttpResponse("CallSid is required", status=400)
    intake.apply_status_callback(request.twilio)
    return HttpResponse(status=204)


@csrf_exempt
def wait(request):
    """Twilio's `waitUrl`, requested again and again while the caller waits. A failing wait URL
    drops the caller, so this answers from memory: no database, no Redis, and a static answer
    if anything at all goes wrong (an unsigned request is still refused)."""
    try:
        if request.method != "POST" or not is_signed_by_twilio(request):
            return HttpResponseForbidden("invalid signature")
        params = twilio_params.clean(request.POST)
        position = params.get("QueuePosition")
        return twiml_response(
            twiml.waiting_message(
                position=int(position) if position else None,
                seconds_waited=int(params.get("QueueTime", 0)),
            )
        )
    except Exception:
        logger.exception("wait URL failed; answering the static message")
        return twiml_response(twiml.STATIC_WAITING_MESSAGE)


@twilio_webhook
def queue_exit(request):
    """`<Enqueue action>`: the caller left the queue. Whatever fails here, a caller still on
    the line is kept connected."""
    result = request.twilio.get("QueueResult", "")
    try:
        call = intake.left_queue(request.twilio) if request.twilio.get("CallSid") else None
    except Exception:
        logger.exception("recording the queue result failed")
        call = None
    if result == "queue-full":
        return twiml_response(twiml.queue_full())
    if result in ("error", "system-error"):
        return twiml_response(twiml.fallback())
    if result == "redirected":
        # Taken out by the Queue Members API: towards the operator who picked them up.
        if call is not None and call.queue_state == Call.QueueState.CONNECTING:
            return twiml_response(twiml.redirect(reverse("calls:bridge", args=[call.pk])))
        return twiml_response(twiml.back_to_queue())
    return twiml_response(twiml.empty())


@twilio_webhook
def bridge(request, call_id):
    """A picked-up caller, taken out of the queue: ring the operator who claimed them."""
    call = Call.objects.select_related("picked_up_by").filter(pk=call_id).first()
    if call is None or call.queue_state != Call.QueueState.CONNECTING or not call.picked_up_by:
        return twiml_response(twiml.back_to_queue())
    operator = call.picked_up_by
    return twiml_response(
        twiml.ring_operator(call.pk, operator.answer_device, operator.softphone_identity)
    )


@twilio_webhook
def bridge_answered(request, call_id):
    """Runs on the operator's leg when they answer, just before the two are connected."""
    try:
        answering.operator_answered(call_id, leg_sid=request.twilio.get("CallSid", ""))
    except Call.DoesNotExist:
        logger.warning("operator answered for unknown call %s", call_id)
    return twiml_response(twiml.empty())


@twilio_webhook
def bridge_done(request, call_id):
    """The `<Dial>` to the operator ended: back to the queue unless they talked."""
    try:
        talked = not answering.bridge_ended(call_id, request.twilio.get("DialCallStatus", ""))
    except Call.DoesNotExist:
        talked = False  # never drop a caller we cannot place: back to the queue
    return twiml_response(twiml.hang_up() if talked else twiml.back_to_queue())


@twilio_webhook
def callback(request, call_id):
    """A call-back: the operator answered their phone; now ring the citizen."""
    call = Call.objects.filter(pk=call_id, direction=Call.Direction.OUTBOUND).first()
    if call is None:
        return twiml_response(twiml.hang_up())
    return twiml_response(twiml.connect_callback(call.pk, call.to_number))


@twilio_webhook
def callback_answered(request, call_id):
    with contextlib.suppress(Call.DoesNotExist):
        answering.callback_answered(call_id)
    return twiml_response(twiml.empty())


@twilio_webhook
def callback_done(request, call_id):
    with contextlib.suppress(Call.DoesNotExist):
        answering.callback_ended(call_id)
    return twiml_response(twiml.hang_up())


@twilio_webhook
def sms(request):
    if not request.twilio.get("MessageSid"):
        return HttpResponse("MessageSid is required", status=400)
    message, _created = intake.receive_sms(request.twilio)
    if message is None or message.call_id is None:
        # An AML text (the handset's), or a text that joined a conversation: the operator
        # answers those; an automatic receipt for each would drown them.
        return twiml_response(twiml.empty())
    return twiml_response(twiml.sms_received(message.incident.reference))


@twilio_webhook
def message_status(request, message_id):
    """Twilio's delivery status of a text the command centre sent (`status_callback`)."""
    found = conversation.apply_delivery_status(
        message_id,
        status=request.twilio.get("MessageStatus", ""),
        error=request.twilio.get("ErrorCode", ""),
    )
    return HttpResponse(status=204 if found else 404)


def gateway_webhook(parse):
    """Only POSTs signed with SMS_GATEWAY_SECRET reach the view (403 otherwise, nothing
    written), and only with a body `parse` accepts (400 naming the field otherwise). The
    signature is checked before the body is read as anything: a forger learns nothing from a
    400. The view gets the parsed values. Timed for /metrics like the Twilio webhooks."""

    def decorate(view):
        latency = WEBHOOK_SECONDS.labels(endpoint=view.__name__)

        @csrf_exempt
        @require_POST
        @wraps(view)
        @latency.time()
        def checked(request):
            if not gateway.is_signed(request):
                logger.warning("refused unsigned SMS-gateway request to %s", request.path)
                return JsonResponse({"detail": "invalid signature"}, status=403)
            values, errors = parse(request.body)
            if errors:
                return JsonResponse(errors, status=400)
            return view(request, values)

        return checked

    return decorate


@gateway_webhook(gateway.parse)
def sms_gateway(request, params):
    """A text from the Indonesian SMS gateway, handled like a Twilio SMS."""
    message, _created = intake.receive_sms(params)
    # A repeated id finds the same message, so the same answer; an AML location (§10) is no
    # message: success without a reference.
    incident = message.incident if message is not None else None
    return JsonResponse({"ok": True, "incident": incident.reference if incident else None})


@gateway_webhook(gateway.parse_status)
def sms_gateway_status(request, report):
    """The gateway's delivery report of a text it sent for us: `{"id", "status"}`, `id` being
    the one its answer to our send gave."""
    if not conversation.apply_gateway_status(report["id"], report["status"]):
        return JsonResponse({"detail": "unknown message id"}, status=404)
    return JsonResponse({"ok": True})


@twilio_webhook
def duty_call(request, notification_id):
    """What the agency's duty officer hears when an escalation phones them."""
    return twiml_response(duty.briefing(notification_id))


@twilio_webhook
def duty_answer(request, notification_id):
    """The duty officer pressed a key: 1 acknowledges the assignment on the agency's behalf."""
    return twiml_response(duty.answer(notification_id, request.twilio.get("Digits", "")))
