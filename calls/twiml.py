"""What a 112 caller (and an operator's phone) hears. Bahasa Indonesia; nothing here touches the
database: the views hand in what they know."""

import functools

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import Dial, VoiceResponse

LANGUAGE = "id-ID"
STAY_ON_THE_LINE = "Mohon tetap di saluran, petugas kami segera menjawab."


def greeting():
    return f"Anda terhubung dengan layanan darurat 112 {settings.CITY_NAME}. {STAY_ON_THE_LINE}"


def enqueue(response):
    """Put the caller in the operators' queue: `waitUrl` keeps them company (and must never
    fail), `action` tells us how they left it (CONTRACT §9)."""
    response.enqueue(
        settings.OPERATOR_QUEUE_NAME,
        wait_url=reverse("calls:wait"),
        wait_url_method="POST",
        action=reverse("calls:queue-exit"),
        method="POST",
    )
    return str(response)


def queue_for_operator():
    """Every new voice call's answer: built once, not per call (twilio's XML builder was 5 % of
    a new call's CPU, bench/RESULTS.md)."""
    return greeting_and_queue(
        settings.CITY_NAME, settings.OPERATOR_QUEUE_NAME, get_script_prefix(), get_urlconf()
    )


@functools.lru_cache(maxsize=8)
def greeting_and_queue(*depends_on):
    """`depends_on`: what the answer is made of (settings, and where the URLs are reversed),
    so a changed configuration builds it anew."""
    response = VoiceResponse()
    response.say(greeting(), language=LANGUAGE)
    return enqueue(response)


def back_to_queue():
    """After an operator did not answer, or released the caller: first in line again."""
    response = VoiceResponse()
    response.say(f"Mohon maaf menunggu. {STAY_ON_THE_LINE}", language=LANGUAGE)
    return enqueue(response)


def dial_fallback_number():
    response = VoiceResponse()
    response.say(
        "Layanan darurat 112. Mohon tunggu, panggilan Anda sedang disambungkan.", language=LANGUAGE
    )
    response.dial(settings.FALLBACK_PHONE_NUMBER)
    return str(response)


def fallback():
    """When the platform cannot record the call: still connect the caller — to the fallback
    number when one is configured, else to the operators' queue, which lives at Twilio."""
    if not settings.FALLBACK_PHONE_NUMBER:
        return queue_for_operator()
    return dial_fallback_number()


def queue_full():
    """The queue is at its MaxSize: the fallback number, else a short pause and another try."""
    if settings.FALLBACK_PHONE_NUMBER:
        return dial_fallback_number()
    response = VoiceResponse()
    response.say("Semua petugas sedang sibuk. Mohon tetap di saluran.", language=LANGUAGE)
    response.pause(length=5)
    return enqueue(response)


def waiting_message(position=None, seconds_waited=0):
    """The wait URL's answer: reassurance, the caller's place when Twilio gives it, and a few
    seconds of silence before Twilio asks again."""
    response = VoiceResponse()
    parts = []
    if position:
        parts.append(f"Anda berada di antrean nomor {position}.")
    if seconds_waited >= 30:
        parts.append("Jangan tutup telepon Anda. Panggilan Anda tetap dalam antrean.")
    parts.append(STAY_ON_THE_LINE)
    response.say(" ".join(parts), language=LANGUAGE)
    response.pause(length=8)
    return str(response)


# Built once at import: the wait URL answers this if anything at all goes wrong.
STATIC_WAITING_MESSAGE = (
    '<?xml version="1.0" encoding="UTF-8"?><Response>'
    f'<Say language="{LANGUAGE}">{STAY_ON_THE_LINE}</Say><Pause length="8"/></Response>'
)


def ring_operator(call_id, destination, identity):
    """Connect a picked-up caller to the operator: their own phone or SIP address when their
    profile has one, else their browser softphone. `url` on the noun runs when the operator
    answers (we mark the call connected); the Dial's `action` says how the bridge ended."""
    response = VoiceResponse()
    response.say("Menyambungkan Anda dengan petugas 112.", language=LANGUAGE)
    dial = Dial(
        action=reverse("calls:bridge-done", args=[call_id]),
        method="POST",
        timeout=settings.OPERATOR_RING_SECONDS,
        answer_on_bridge=True,
    )
    answered = {"url": reverse("calls:bridge-answered", args=[call_id]), "method": "POST"}
    if destination.startswith("sip:"):
        dial.sip(destination, **answered)
    elif destination:
        dial.number(destination, **answered)
    else:
        dial.client(**answered).identity(identity)
    response.append(dial)
    return str(response)


def connect_callback(call_id, citizen_number):
    """The operator answered their phone for a call-back: now ring the citizen."""
    response = VoiceResponse()
    response.say("Menghubungi penelepon 112.", language=LANGUAGE)
    dial = Dial(
        caller_id=settings.TWILIO_FROM_NUMBER or None,
        action=reverse("calls:callback-done", args=[call_id]),
        method="POST",
    )
    dial.number(
        citizen_number, url=reverse("calls:callback-answered", args=[call_id]), method="POST"
    )
    response.append(dial)
    return str(response)


def redirect(url):
    response = VoiceResponse()
    response.redirect(url, method="POST")
    return str(response)


def empty():
    """Nothing more to say: the call leg goes on (a bridge) or ends."""
    return str(VoiceResponse())


def hang_up():
    response = VoiceResponse()
    response.hangup()
    return str(response)


def sms_received(reference):
    response = MessagingResponse()
    response.message(
        f"112 {settings.CITY_NAME}: pesan Anda diterima ({reference}). "
        "Petugas kami segera menindaklanjuti. Dalam keadaan darurat, telepon 112."
    )
    return str(response)
