from django.urls import path

from calls import views

app_name = "calls"
urlpatterns = [
    path("twilio/voice/", views.voice, name="voice"),
    path("twilio/status/", views.status, name="status"),
    path("twilio/sms/", views.sms, name="sms"),
    path("twilio/duty/<int:notification_id>/", views.duty_call, name="duty-call"),
    path("twilio/duty/<int:notification_id>/answer/", views.duty_answer, name="duty-answer"),
]
