"""Phone numbers are stored in E.164; people type them the Indonesian way (0812-3456-7890)."""

import phonenumbers
from django.conf import settings


class InvalidPhoneNumber(ValueError):
    pass


def to_e164(raw):
    """`0812-3456-7890`, `62812…`, `+62 812…` → `+6281234567890`. Raises InvalidPhoneNumber."""
    text = (raw or "").strip()
    if not text:
        raise InvalidPhoneNumber("empty")
    if text.startswith("62") and not text.startswith("+"):
        text = "+" + text
    try:
        number = phonenumbers.parse(text, settings.PHONE_REGION)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(str(exc)) from exc
    if not phonenumbers.is_possible_number(number):
        raise InvalidPhoneNumber("not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def to_e164_or_raw(raw):
    """For numbers a carrier hands us (caller id): keep what we cannot parse, e.g. "anonymous"."""
    try:
        return to_e164(raw)
    except InvalidPhoneNumber:
        return (raw or "").strip()[:32]


def mask_phone(number):
    """+6281234567890 → +62812****7890: enough to tell numbers apart in a log, not to dial."""
    number = str(number or "")
    if len(number) <= 6:
        return "****"
    if len(number) < 11:
        return f"{number[:2]}****{number[-2:]}"
    return f"{number[:6]}****{number[-4:]}"
