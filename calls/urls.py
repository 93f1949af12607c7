from django.urls import path

from calls import views

app_name = "calls"
urlpatterns = [
    path("twilio/voice/", views.voice, name="voice"),
    path("twilio/status/", views.status, name="status"),
    path("twilio/sms/", views.sms, name="sms"),
]
