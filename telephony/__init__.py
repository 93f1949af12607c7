"""The telephony gateway, below `calls` and `dispatch` alike: how the platform sends an SMS,
places a call or hands a queued caller to an operator (CONTRACT §2, §9; TELEPHONY_BACKEND).
`console` logs and sends nothing — the default without Twilio credentials — and its operator
bridges connect at once; `twilio` uses the SDK's Client. Tests give the Twilio backend a fake
`http_client`. Texts may take another way (TELEPHONY_SMS_BACKEND, `sms_gateway()`): `gateway`
posts them to a local Indonesian SMS gateway (SmsGatewayBackend)."""

import hashlib
import hmac
import json
import logging
import threading
import uuid

import requests
from django.conf import settings
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from agencies.phones import mask_phone

logger = logging.getLogger("dispatch.telephony")


class TelephonyError(Exception):
    """The provider could not do it now (answered 503 by the API)."""


class TransientSendError(TelephonyError):
    """Worth another try later: the network, a timeout, a 5xx or 429 from the provider."""


class PermanentSendError(TelephonyError):
    """Retrying will not help: a bad number, missing configuration, a 4xx."""


class NotInQueue(PermanentSendError):
    """The caller is no longer waiting in the queue (hung up, or already taken out)."""


class ConsoleGateway:
    name = "console"
    # Nothing rings anywhere, so a pick-up or a call-back is a connected call at once (demo).
    connects_at_once = True
    # What a text is once `send_sms` returns (calls.models.MESSAGE_STATUS_RANK).
    sent_status = "simulated"

    # Numbers masked: INFO logs carry no personal data.
    def send_sms(self, to, body, status_url=None):
        logger.info("SMS to %s: %s", mask_phone(to), body)
        return f"console-{uuid.uuid4().hex[:16]}"

    def place_call(self, to, twiml_url, status_url=None):
        logger.info("CALL to %s, TwiML at %s", mask_phone(to), twiml_url)
        return f"console-{uuid.uuid4().hex[:16]}"

    def bridge_to_operator(self, call_sid, twiml_url):
        logger.info(
            "BRIDGE queued caller %s, TwiML at %s",
            call_sid,
            twiml_url,
            extra={"call_sid": call_sid},
        )

    def hang_up(self, call_sid):
        logger.info("HANG UP %s", call_sid, extra={"call_sid": call_sid})


class TwilioGateway:
    name = "twilio"
    connects_at_once = False
    # Twilio has only queued it; its status callback tells the rest.
    sent_status = "queued"
    # The SDK's own client waits for ever; an operator's click or a worker must not.
    TIMEOUT_SECONDS = 10

    def __init__(self, http_client=None):
        if not (settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN):
            raise PermanentSendError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are required")
        self.client = Client(
            settings.TWILIO_ACCOUNT_SID,
            settings.TWILIO_AUTH_TOKEN,
            http_client=http_client or TwilioHttpClient(timeout=self.TIMEOUT_SECONDS),
        )

    def caller_id(self):
        if not settings.TWILIO_FROM_NUMBER:
            raise PermanentSendError("TWILIO_FROM_NUMBER is required to send")
        return settings.TWILIO_FROM_NUMBER

    def send_sms(self, to, body, status_url=None):
        """Returns the MessageSid. With `status_url`, Twilio reports each delivery status
        there (calls.views.message_status)."""
        extra = {"status_callback": status_url} if status_url else {}
        with translated_errors():
            message = self.client.messages.create(to=to, from_=self.caller_id(), body=body, **extra)
        return message.sid

    def place_call(self, to, twiml_url, status_url=None):
        extra = {"status_callback": status_url, "status_callback_method": "POST"}
        with translated_errors():
            call = self.client.calls.create(
                to=to,
                from_=self.caller_id(),
                url=twiml_url,
                method="POST",
                **(extra if status_url else {}),
            )
        return call.sid

    def bridge_to_operator(self, call_sid, twiml_url):
        """Take exactly this caller out of the operators' queue to `twiml_url`. The Queue
        Members API only moves a call that is still waiting in our queue; redirecting the call
        itself (`calls(sid).update`) would also snatch a caller already talking to someone."""
        queue_sid = self.queue_sid()
        try:
            with translated_errors():
                self.client.queues(queue_sid).members(call_sid).update(url=twiml_url, method="POST")
        except PermanentSendError as error:
            if isinstance(error.__cause__, TwilioRestException) and error.__cause__.status == 404:
                raise NotInQueue(str(error)) from error.__cause__
            raise

    def hang_up(self, call_sid):
        """End one call leg (the operator's side of a bridge: the caller goes back to the
        queue through the bridge's `<Dial action>`)."""
        with translated_errors():
            self.client.calls(call_sid).update(status="completed")

    def queue_sid(self):
        """The operators' queue, created with the centre's MaxSize the first time it is needed
        (`<Enqueue>` would otherwise create it with Twilio's default size)."""
        key = (settings.TWILIO_ACCOUNT_SID, settings.OPERATOR_QUEUE_NAME)
        with QUEUE_SIDS_LOCK:
            if key not in QUEUE_SIDS:
                QUEUE_SIDS[key] = self.ensure_queue()
            return QUEUE_SIDS[key]

    def ensure_queue(self):
        name, size = settings.OPERATOR_QUEUE_NAME, settings.OPERATOR_QUEUE_MAX_SIZE
        with translated_errors():
            for queue in self.client.queues.list():
                if queue.friendly_name == name:
                    if queue.max_size != size:
                        self.client.queues(queue.sid).update(max_size=size)
                    return queue.sid
            return self.client.queues.create(friendly_name=name, max_size=size).sid


# Queue SIDs never change once created; one look-up per process.
QUEUE_SIDS = {}
QUEUE_SIDS_LOCK = threading.Lock()


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


def gateway_signature(secret, raw_body):
    """`X-Signature` of the SMS gateway, both ways (CONTRACT §10): `sha256=` and the hex
    HMAC-SHA256 of the exact bytes sent, keyed with SMS_GATEWAY_SECRET."""
    digest = hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class SmsGatewayBackend:
    """Texts through the local SMS gateway: POST `{"to", "text"}` as JSON to SMS_GATEWAY_URL,
    signed like the texts it posts to us, so the gateway can refuse anyone else. Sends texts
    only; calls stay with the voice backend."""

    name = "gateway"
    # The gateway took it; its delivery report may follow (calls.views.sms_gateway_status).
    sent_status = "sent"
    PROVIDER_ID_MAX_LENGTH = 64  # Notification.provider_id, Message.sid

    def __init__(self):
        if not (settings.SMS_GATEWAY_URL and settings.SMS_GATEWAY_SECRET):
            raise PermanentSendError("SMS_GATEWAY_URL and SMS_GATEWAY_SECRET are required")
        self.url = settings.SMS_GATEWAY_URL
        self.secret = settings.SMS_GATEWAY_SECRET

    def send_sms(self, to, body, status_url=None):
        # The gateway reports delivery to the one URL it is configured with, not per text.
        raw = json.dumps({"to": to, "text": body}, ensure_ascii=False).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Signature": gateway_signature(self.secret, raw),
        }
        try:
            # No redirects: one would turn the POST into a GET, or carry the text elsewhere.
            response = requests.post(
                self.url,
                data=raw,
                headers=headers,
                timeout=settings.SMS_GATEWAY_TIMEOUT,
                allow_redirects=False,
            )
        except (requests.ConnectionError, requests.Timeout) as error:
            raise TransientSendError(f"SMS gateway unreachable: {error}") from error
        except requests.RequestException as error:  # a malformed URL: configuration
            raise PermanentSendError(f"SMS gateway: {error}") from error
        return self.provider_id(response)

    def provider_id(self, response):
        status = response.status_code
        if status == 429 or status >= 500:
            raise TransientSendError(f"SMS gateway {status}")
        if not 200 <= status < 300:
            raise PermanentSendError(f"SMS gateway {status}")
        # The gateway's own message id when it gives one, else ours: the row still says sent.
        try:
            given = response.json().get("id")
        except (ValueError, AttributeError):
            given = None
        if isinstance(given, (str, int)) and not isinstance(given, bool) and str(given):
            return str(given)[: self.PROVIDER_ID_MAX_LENGTH]
        return f"gateway-{uuid.uuid4().hex[:16]}"


def gateway():
    """The voice backend (TELEPHONY_BACKEND): calls, bridges, and texts unless told otherwise."""
    if settings.TELEPHONY_BACKEND == "twilio":
        return TwilioGateway(http_client=TWILIO_HTTP_CLIENT)
    return ConsoleGateway()


def sms_gateway():
    """The backend that sends texts: TELEPHONY_SMS_BACKEND, or the voice backend when unset.
    Resolved here rather than in settings, so a change of TELEPHONY_BACKEND carries over."""
    backend = settings.TELEPHONY_SMS_BACKEND or settings.TELEPHONY_BACKEND
    if backend == "gateway":
        return SmsGatewayBackend()
    if backend == "twilio":
        return TwilioGateway(http_client=TWILIO_HTTP_CLIENT)
    return ConsoleGateway()


def caller_id_for_display():
    """What a call-back shows as its `from_number`: the platform's caller id."""
    return settings.TWILIO_FROM_NUMBER or "112"


def public_url(path):
    """An absolute URL Twilio can fetch. Twilio needs PUBLIC_BASE_URL; the console backend
    only logs the URL, so a relative one does there."""
    if settings.TELEPHONY_BACKEND == "twilio" and not settings.PUBLIC_BASE_URL:
        raise PermanentSendError("PUBLIC_BASE_URL is required for Twilio to reach the platform")
    return f"{settings.PUBLIC_BASE_URL}{path}"
