"""The telephony gateway: how the platform sends an SMS or places a call (CONTRACT §2,
TELEPHONY_BACKEND). `console` logs and sends nothing — the default without Twilio credentials;
`twilio` uses the SDK's Client. Tests give the Twilio backend a fake `http_client`."""

import logging
import uuid

from django.conf import settings
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

logger = logging.getLogger("dispatch.telephony")


class TransientSendError(Exception):
    """Worth another try later: the network, a timeout, a 5xx or 429 from the provider."""


class PermanentSendError(Exception):
    """Retrying will not help: a bad number, missing configuration, a 4xx."""


class ConsoleGateway:
    name = "console"

    def send_sms(self, to, body):
        logger.info("SMS to %s: %s", to, body)
        return f"console-{uuid.uuid4().hex[:16]}"

    def place_call(self, to, twiml_url):
        logger.info("CALL to %s, TwiML at %s", to, twiml_url)
        return f"console-{uuid.uuid4().hex[:16]}"


class TwilioGateway:
    name = "twilio"

    def __init__(self, http_client=None):
        if not (settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN):
            raise PermanentSendError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are required")
        if not settings.TWILIO_FROM_NUMBER:
            raise PermanentSendError("TWILIO_FROM_NUMBER is required to send")
        self.client = Client(
            settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, http_client=http_client
        )

    def send_sms(self, to, body):
        with translated_errors():
            message = self.client.messages.create(
                to=to, from_=settings.TWILIO_FROM_NUMBER, body=body
            )
        return message.sid

    def place_call(self, to, twiml_url):
        with translated_errors():
            call = self.client.calls.create(
                to=to, from_=settings.TWILIO_FROM_NUMBER, url=twiml_url, method="POST"
            )
        return call.sid


class translated_errors:  # noqa: N801 (used as a context manager)
    """Twilio's errors → transient or permanent, which is all the sender needs to know."""

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if error is None:
            return False
        if isinstance(error, TwilioRestException):
            if error.status == 429 or error.status >= 500:
                raise TransientSendError(f"Twilio {error.status}: {error.msg}") from error
            raise PermanentSendError(f"Twilio {error.status}: {error.msg}") from error
        if isinstance(error, (TwilioException, OSError)):
            raise TransientSendError(str(error)) from error
        return False


# Tests swap in an http_client that records requests instead of reaching Twilio.
TWILIO_HTTP_CLIENT = None


def gateway():
    if settings.TELEPHONY_BACKEND == "twilio":
        return TwilioGateway(http_client=TWILIO_HTTP_CLIENT)
    return ConsoleGateway()
