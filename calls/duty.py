"""The escalation call to an agency's duty officer: a spoken briefing, and "tekan 1 untuk
menerima" to acknowledge the assignment on the agency's behalf (audited as such)."""

from django.urls import reverse
from twilio.twiml.voice_response import Gather, VoiceResponse

from calls.twiml import LANGUAGE
from dispatch import incidents
from dispatch.escalation import place
from dispatch.models import Assignment, Notification


def duty_notification(notification_id):
    return Notification.objects.select_related(
        "assignment__incident__category", "assignment__incident__area__parent", "assignment__agency"
    ).get(id=notification_id, channel=Notification.Channel.VOICE)


def spoken(response, text):
    response.say(text, language=LANGUAGE)
    return str(response)


def briefing(notification_id):
    response = VoiceResponse()
    try:
        notification = duty_notification(notification_id)
    except Notification.DoesNotExist:
        return spoken(response, "Panggilan ini tidak lagi berlaku. Terima kasih.")
    assignment = notification.assignment
    if assignment.status != Assignment.Status.PENDING:
        return spoken(response, "Kejadian ini sudah ditangani. Terima kasih.")
    incident = assignment.incident
    category = incident.category.name if incident.category_id else "kejadian darurat"
    gather = Gather(
        num_digits=1,
        timeout=10,
        action=reverse("calls:duty-answer", args=[notification_id]),
        method="POST",
    )
    gather.say(
        f"Ini layanan darurat 112. {category} di {place(incident)}, nomor {incident.reference}, "
        f"belum diterima oleh {assignment.agency.code}. Tekan 1 untuk menerima.",
        language=LANGUAGE,
    )
    response.append(gather)
    return spoken(response, "Tidak ada jawaban. Pusat komando akan menghubungi Anda kembali.")


def answer(notification_id, digits):
    response = VoiceResponse()
    try:
        notification = duty_notification(notification_id)
    except Notification.DoesNotExist:
        return spoken(response, "Panggilan ini tidak lagi berlaku. Terima kasih.")
    if digits != "1":
        response.redirect(reverse("calls:duty-call", args=[notification_id]), method="POST")
        return str(response)
    try:
        incidents.acknowledge(
            notification.assignment_id,
            actor=None,
            on_behalf={
                "via": "voice",
                "phone": notification.recipient,
                "notification": notification.id,
            },
        )
    except incidents.Conflict:
        return spoken(response, "Kejadian ini sudah diterima atau ditutup. Terima kasih.")
    return spoken(
        response, f"Terima kasih. Tugas diterima atas nama {notification.assignment.agency.code}."
    )
