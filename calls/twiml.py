"""What a 112 caller hears. Bahasa Indonesia; nothing here touches the database."""

from django.conf import settings
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

LANGUAGE = "id-ID"


def greeting():
    return (
        f"Anda terhubung dengan layanan darurat 112 {settings.CITY_NAME}. "
        "Mohon tetap di saluran, petugas kami segera menjawab."
    )


def queue_for_operator():
    response = VoiceResponse()
    response.say(greeting(), language=LANGUAGE)
    response.enqueue(settings.OPERATOR_QUEUE_NAME)
    return str(response)


def fallback():
    """When the platform cannot record the call: still connect the caller — to the fallback
    number when one is configured, else to the operators' queue, which lives at Twilio."""
    if not settings.FALLBACK_PHONE_NUMBER:
        return queue_for_operator()
    response = VoiceResponse()
    response.say(
        "Layanan darurat 112. Mohon tunggu, panggilan Anda sedang disambungkan.", language=LANGUAGE
    )
    response.dial(settings.FALLBACK_PHONE_NUMBER)
    return str(response)


def sms_received(reference):
    response = MessagingResponse()
    response.message(
        f"112 {settings.CITY_NAME}: pesan Anda diterima ({reference}). "
        "Petugas kami segera menindaklanjuti. Dalam keadaan darurat, telepon 112."
    )
    return str(response)
