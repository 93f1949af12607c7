from django.urls import path

from calls import views

app_name = "calls"
urlpatterns = [
    path("twilio/voice/", views.voice, name="voice"),
    path("twilio/status/", views.status, name="status"),
    path("twilio/wait/", views.wait, name="wait"),
    path("twilio/queue/", views.queue_exit, name="queue-exit"),
    path("twilio/bridge/<int:call_id>/", views.bridge, name="bridge"),
    path("twilio/bridge/<int:call_id>/answered/", views.bridge_answered, name="bridge-answered"),
    path("twilio/bridge/<int:call_id>/done/", views.bridge_done, name="bridge-done"),
    path("twilio/callback/<int:call_id>/", views.callback, name="callback"),
    path(
        "twilio/callback/<int:call_id>/answered/",
        views.callback_answered,
        name="callback-answered",
    ),
    path("twilio/callback/<int:call_id>/done/", views.callback_done, name="callback-done"),
    path("twilio/sms/", views.sms, name="sms"),
    path("twilio/message-status/<int:message_id>/", views.message_status, name="message-status"),
    path("sms-gateway/", views.sms_gateway, name="sms-gateway"),
    path("sms-gateway/status/", views.sms_gateway_status, name="sms-gateway-status"),
    path("twilio/duty/<int:notification_id>/", views.duty_call, name="duty-call"),
    path("twilio/duty/<int:notification_id>/answer/", views.duty_answer, name="duty-answer"),
]
