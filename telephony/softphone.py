"""The operators' browser softphone (CONTRACT §9): whether it is configured, and its Twilio
Access Tokens."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant

SOFTPHONE_SETTINGS = (
    "TWILIO_ACCOUNT_SID",
    "TWILIO_API_KEY_SID",
    "TWILIO_API_KEY_SECRET",
    "TWILIO_TWIML_APP_SID",
)


def softphone_configured():
    return all(getattr(settings, name) for name in SOFTPHONE_SETTINGS)


def missing_softphone_settings():
    return [name for name in SOFTPHONE_SETTINGS if not getattr(settings, name)]


def softphone_token(user):
    """A Twilio Access Token for this user's browser softphone (CONTRACT §9): incoming calls
    to their identity, outgoing through the TwiML App. Returns `(identity, jwt, expires_at)`."""
    ttl = settings.SOFTPHONE_TOKEN_SECONDS
    identity = user.softphone_identity
    token = AccessToken(
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_API_KEY_SID,
        settings.TWILIO_API_KEY_SECRET,
        identity=identity,
        ttl=ttl,
    )
    token.add_grant(
        VoiceGrant(outgoing_application_sid=settings.TWILIO_TWIML_APP_SID, incoming_allow=True)
    )
    return identity, token.to_jwt(), timezone.now() + timedelta(seconds=ttl)
