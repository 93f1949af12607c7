"""The Indonesian SMS gateway's webhook (CONTRACT §10), at the edge: is the request signed with
SMS_GATEWAY_SECRET, and is its body a text we can store? Twilio cannot receive SMS on
Indonesian numbers, so a local gateway (or a relay on a GSM modem) posts each text here as
JSON `{"id", "from", "to", "text"}`; the view hands it to `intake.receive_sms` as if Twilio
had sent it.

Unlike Twilio's parameters (`twilio_params`), which are cleaned because a 112 text must not be
lost to a quirk of Twilio's, a body the gateway got wrong is refused with 400 naming the field:
the gateway is ours to fix, and it keeps the text to post again.
"""

import hashlib
import hmac
import json

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from calls.models import TEXT_MAX_LENGTH
from telephony import gateway_signature

SID_PREFIX = "gw-"  # the gateway's ids never meet Twilio's MessageSids (SM…) in Call.sid
SID_MAX_LENGTH = 64  # Call.sid
ID_MAX_LENGTH = 256
NUMBER_MAX_LENGTH = 32  # Call.from_number, Call.to_number


def is_signed(request):
    """`X-Signature: sha256=<hex>` matches the raw body under SMS_GATEWAY_SECRET. Without a
    secret nothing is signed: the webhook fails closed."""
    secret = settings.SMS_GATEWAY_SECRET
    given = request.headers.get("X-Signature", "")
    if not secret or not given:
        return False
    expected = gateway_signature(secret, request.body)
    # Bytes: compare_digest refuses a str with non-ASCII characters, which a forger may send.
    given_bytes = given.strip().encode("utf-8", "surrogateescape")
    return hmac.compare_digest(expected.encode("ascii"), given_bytes)


class GatewayText(serializers.Serializer):
    """DRF's CharField refuses NUL and lone surrogate characters (PostgreSQL stores neither),
    lists, objects and booleans; numbers are read as their digits."""

    id = serializers.CharField(max_length=ID_MAX_LENGTH)
    # `from` is a Python keyword: declared below.
    to = serializers.CharField(max_length=NUMBER_MAX_LENGTH)
    text = serializers.CharField(
        max_length=TEXT_MAX_LENGTH, allow_blank=True, trim_whitespace=False
    )

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.CharField(max_length=NUMBER_MAX_LENGTH)
        return fields


def validated(raw_body, serializer_class):
    """`(values, errors)`: the body's validated values, or the 400 answer's field messages."""
    try:
        data = json.loads(raw_body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None, {"detail": [_("The body is not valid JSON.")]}
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        return None, serializer.errors
    return serializer.validated_data, None


def parse(raw_body):
    """`(params, errors)`: Twilio-like parameters for `intake.receive_sms`, or the 400 answer's
    field messages."""
    values, errors = validated(raw_body, GatewayText)
    if errors:
        return None, errors
    params = {
        "MessageSid": storable_sid(values["id"]),
        "From": values["from"],
        "To": values["to"],
        "Body": values["text"],
    }
    return params, None


class GatewayStatus(serializers.Serializer):
    """The gateway's delivery report of a text it sent for us: `id` as its answer to our send
    gave it (telephony.SmsGatewayBackend)."""

    id = serializers.CharField(max_length=SID_MAX_LENGTH)
    status = serializers.ChoiceField(choices=["sent", "delivered", "undelivered", "failed"])


def parse_status(raw_body):
    return validated(raw_body, GatewayStatus)


def storable_sid(gateway_id):
    """The gateway's id as Call.sid, on which the intake is idempotent: `gw-<id>`, or, when
    that does not fit the column, `gw~` and a digest of the id — the same on every repeat."""
    sid = SID_PREFIX + gateway_id
    if len(sid) <= SID_MAX_LENGTH:
        return sid
    return "gw~" + hashlib.sha256(gateway_id.encode("utf-8")).hexdigest()[:40]
