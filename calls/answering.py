"""Getting every 112 caller to a person (CONTRACT §9).

A voice caller waits in the operators' queue (`queue_state` waiting). An operator picks up a
*specific* caller: a conditional UPDATE claims the call for them — of two operators pressing at
once exactly one wins — and then the telephony gateway takes that caller out of the queue to the
operator (console backend: connected at once). An operator who does not answer, or releases the
caller, sends them back to the queue with their arrival time kept, so they are first in line
again. A caller who leaves the queue before reaching anybody is *missed* until somebody settles
it: a call-back connects, the same number calls again and is picked up, or an operator resolves
it with a reason.

Each change is one transaction with its `call.updated` (or `call.created`) timeline event.
"""

import logging
import secrets

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

import telephony
from calls.intake import record_call_event
from calls.models import CALL_STATUS_RANK, FINAL_CALL_STATUSES, Call
from dispatch.incidents import Conflict

logger = logging.getLogger(__name__)

State = Call.QueueState
HELD = (State.CONNECTING, State.CONNECTED)


def seconds_since(start, now):
    return max(0, int((now - start).total_seconds()))


def locked_call(call_id):
    return (
        Call.objects.select_for_update(of=("self",)).select_related("picked_up_by").get(pk=call_id)
    )


def changed(call, actor=None):
    call.save()
    record_call_event("call.updated", call, actor)
    return call


# --- picking up -------------------------------------------------------------------------------


def pick_up(call_id, user):
    """Claim a waiting caller for `user` and bridge them. Raises Conflict when the caller is not
    waiting (or another operator won), TelephonyError when the provider cannot do it now."""
    call = claim(call_id, user)
    gateway = telephony.gateway()
    if gateway.connects_at_once:
        return operator_answered(call.pk)
    try:
        gateway.bridge_to_operator(
            call.sid, telephony.public_url(reverse("calls:bridge", args=[call.pk]))
        )
    except telephony.NotInQueue:
        unclaim(call.pk, user)
        raise Conflict(_("This caller is no longer waiting in the queue.")) from None
    except telephony.TelephonyError:
        unclaim(call.pk, user)
        raise
    return call


@transaction.atomic
def claim(call_id, user):
    now = timezone.now()
    refuse_a_second_caller(user)
    # The conditional UPDATE is the race's referee: only one request finds the call waiting.
    won = Call.objects.filter(pk=call_id, queue_state=State.WAITING).update(
        queue_state=State.CONNECTING, picked_up_by=user, picked_up_at=now, updated_at=now
    )
    if not won:
        raise Conflict(_("This caller is not waiting: another operator may have picked up."))
    call = locked_call(call_id)
    call.wait_seconds = seconds_since(call.started_at, now)
    return changed(call, user)


def refuse_a_second_caller(user):
    """One caller at a time: a second pick-up would leave that caller connected to nobody."""
    if Call.objects.filter(picked_up_by=user, queue_state__in=HELD).exists():
        raise Conflict(_("You are already on a call: end or release it first."))


@transaction.atomic
def unclaim(call_id, user=None):
    """Back to the queue with the arrival time kept (first in line). With `user`, only if that
    user still holds the call; returns whether anything changed."""
    call = locked_call(call_id)
    if call.queue_state not in HELD or (user is not None and call.picked_up_by_id != user.pk):
        return False
    back_in_queue(call)
    changed(call, user)
    return True


def back_in_queue(call):
    call.queue_state = State.WAITING
    call.picked_up_by = None
    call.picked_up_at = None
    call.wait_seconds = None
    call.operator_leg_sid = ""


@transaction.atomic
def operator_answered(call_id, leg_sid=""):
    """The operator's phone or softphone answered: the caller is talking to a person. That
    settles this number's missed calls."""
    call = locked_call(call_id)
    if call.queue_state != State.CONNECTING:
        return call
    call.queue_state = State.CONNECTED
    call.operator_leg_sid = leg_sid
    mark_in_call(call)
    changed(call, call.picked_up_by)
    settle_missed_of_number(call.from_number, Call.Settlement.CALLED_AGAIN, call.picked_up_by)
    return call


@transaction.atomic
def bridge_ended(call_id, dial_status):
    """The `<Dial>` to the operator is over. Returns True when the caller must go back to the
    queue (the operator did not answer, or released them), False when the conversation
    happened and the call can end."""
    call = locked_call(call_id)
    if call.queue_state == State.WAITING:
        return True  # released while on the line
    if call.queue_state not in HELD:
        return False
    if dial_status == "completed":
        call.queue_state = State.ENDED
        changed(call)
        return False
    back_in_queue(call)  # no-answer, busy, failed, canceled
    changed(call)
    return True


def release(call_id, user):
    """The operator hands the caller back: first in line again. With Twilio the operator's
    leg is ended; the bridge's `<Dial action>` then re-queues the caller."""
    with transaction.atomic():
        call = locked_call(call_id)
        if call.queue_state not in HELD or call.picked_up_by_id != user.pk:
            raise Conflict(_("Only the operator who picked up this caller can release them."))
        leg_sid = call.operator_leg_sid
        back_in_queue(call)
        changed(call, user)
    if leg_sid:
        telephony.gateway().hang_up(leg_sid)
    return call


def end_call(call_id, user):
    """The operator ends the conversation with the caller they hold (the softphone's or the
    desk phone's own hang-up does the same through the bridge's `<Dial action>`)."""
    with transaction.atomic():
        call = locked_call(call_id)
        if call.queue_state not in HELD or call.picked_up_by_id != user.pk:
            raise Conflict(_("Only the operator who holds this call can end it."))
        # A call-back's own sid is the operator's leg: it rang the operator first.
        outbound = call.direction == Call.Direction.OUTBOUND
        leg_sid = call.sid if outbound else call.operator_leg_sid
        call.queue_state = State.ENDED
        mark_completed(call)
        changed(call, user)
    if leg_sid:
        telephony.gateway().hang_up(leg_sid)
    return call


def mark_in_call(call):
    """The call's own status, where no Twilio callback will say it (the console backend): a
    later callback from Twilio still wins (`intake.is_newer`)."""
    if CALL_STATUS_RANK.get(call.status, -1) < CALL_STATUS_RANK["in-progress"]:
        call.status = "in-progress"


def mark_completed(call):
    if call.status not in FINAL_CALL_STATUSES:
        call.status = "completed"
    if call.ended_at is None:
        call.ended_at = timezone.now()


# --- missed calls -----------------------------------------------------------------------------


def settle(call, how, actor=None, reason=""):
    call.missed = False
    call.missed_settlement = how
    call.missed_settled_at = timezone.now()
    call.missed_reason = reason
    changed(call, actor)


def settle_missed_of_number(number, how, actor=None):
    for call in Call.objects.select_for_update().filter(missed=True, from_number=number):
        settle(call, how, actor)


@transaction.atomic
def resolve_missed(call_id, user, reason):
    call = locked_call(call_id)
    if not call.missed:
        raise Conflict(_("This call is not a missed call (any more)."))
    settle(call, Call.Settlement.RESOLVED, user, reason)
    return call


def call_back(call_id, user):
    """Call a missed caller back: the operator's phone rings first, then the caller's. Returns
    the new outbound call."""
    callback = open_callback(call_id, user)
    gateway = telephony.gateway()
    if gateway.connects_at_once:
        return callback_answered(callback.pk)
    try:
        sid = gateway.place_call(
            operator_address(user),
            telephony.public_url(reverse("calls:callback", args=[callback.pk])),
            status_url=telephony.public_url(reverse("calls:status")),
        )
    except telephony.TelephonyError:
        failed_to_place(callback.pk)
        raise
    with transaction.atomic():
        callback = locked_call(callback.pk)
        callback.sid = sid
        return changed(callback, user)


@transaction.atomic
def open_callback(call_id, user):
    refuse_a_second_caller(user)
    missed = locked_call(call_id)
    if not missed.missed:
        raise Conflict(_("Only a missed call can be called back."))
    now = timezone.now()
    callback = Call.objects.create(
        # Twilio names the call only once it is placed; until then a placeholder of our own.
        sid=f"callback-{secrets.token_hex(12)}",
        direction=Call.Direction.OUTBOUND,
        callback_of=missed,
        channel=Call.Channel.VOICE,
        from_number=telephony.caller_id_for_display(),
        to_number=missed.from_number,
        status="queued",
        queue_state=State.CONNECTING,
        picked_up_by=user,
        picked_up_at=now,
        started_at=now,
        incident=missed.incident,
    )
    record_call_event("call.created", callback, user)
    return callback


@transaction.atomic
def callback_answered(callback_id):
    """The citizen answered the call-back: it is connected, and the missed call settled."""
    callback = locked_call(callback_id)
    if callback.queue_state != State.CONNECTING:
        return callback
    callback.queue_state = State.CONNECTED
    mark_in_call(callback)
    changed(callback, callback.picked_up_by)
    missed = locked_call(callback.callback_of_id)
    if missed.missed:
        settle(missed, Call.Settlement.CALLBACK, callback.picked_up_by)
    return callback


@transaction.atomic
def callback_ended(callback_id):
    callback = locked_call(callback_id)
    if callback.queue_state != State.ENDED:
        callback.queue_state = State.ENDED
        mark_completed(callback)
        changed(callback)
    return callback


@transaction.atomic
def failed_to_place(callback_id):
    callback = locked_call(callback_id)
    callback.status = "failed"
    callback.queue_state = State.ENDED
    changed(callback)


def operator_address(user):
    """Where an operator's phone rings: their own number or SIP address, else the softphone."""
    if user.answer_device:
        return user.answer_device
    return f"client:{user.softphone_identity}"
