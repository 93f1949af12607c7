"""Twilio's request parameters made storable, at the edge, before any view reads them.

A signed request proves who sent it, not that its values fit our columns: a NUL character
(PostgreSQL text refuses it), a 10,000-character Sid, a number beyond any integer column or a
year-9999 Timestamp would make the intake fail — and lose a real 112 call or SMS. So every
Twilio view reads `clean(request.POST)`: what can be stored is kept, what cannot is clamped,
replaced or dropped, and the domain code (`intake`, `answering`) sees only values it can store.
The one value read as something else than text, the Timestamp, is judged by `parse_timestamp`.
"""

import hashlib
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from django.utils import timezone

SID_MAX_LENGTH = 64  # Call.sid, Call.operator_leg_sid

# Free-text parameters and the column each one ends up in. `From`/`To` are cut by
# `to_e164_or_raw` after number parsing; a longer Body is cut by the intake (1,600, Twilio's own
# limit for a concatenated SMS).
MAX_LENGTHS = {
    "CallStatus": 16,  # Call.status
    "QueueResult": 32,  # Call.queue_result
    "MessageStatus": 16,  # Message.status
    "ErrorCode": 16,  # in Message.error
}

# Whole numbers Twilio counts up from zero; stored in 32-bit integer columns.
COUNTS = ("SequenceNumber", "CallDuration", "QueueTime", "QueuePosition")
INTEGER_MAX = 2_147_483_647

# A Timestamp outside this window is not Twilio's clock: `intake.twilio_time` reads "now".
EARLIEST_TIMESTAMP = datetime(2000, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(days=1)


def clean(params):
    """A plain dict of the request's parameters (the last value of a repeated one), storable.
    A parameter that cannot be read at all (a count that is no number) is left out, as if
    Twilio had not sent it."""
    cleaned = {key: clean_value(key, params[key]) for key in params}
    return {key: value for key, value in cleaned.items() if value is not None}


def clean_value(key, raw):
    if key.endswith("Sid"):
        return storable_sid(raw)  # before the NULs are removed: "\x00" alone is still a Sid
    value = raw.replace("\x00", "")
    if key in COUNTS:
        return clamped_count(value)
    if key in MAX_LENGTHS:
        return value[: MAX_LENGTHS[key]]
    return value


def storable_sid(raw):
    """A real Twilio Sid is 34 letters and digits. Without its NUL characters it is kept; one
    that still cannot be stored as it is (too long, or nothing but NULs) still identifies its
    call or message: it becomes a digest of itself, the same on every retry and on every
    callback, and distinct from any other (cutting it short could merge two)."""
    sid = raw.replace("\x00", "")
    if (sid or not raw) and len(sid) <= SID_MAX_LENGTH:
        return sid
    return "~" + hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def clamped_count(text):
    """A count as decimal text within the integer columns, or None when it is not a count."""
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit()):
        return None
    significant = digits.lstrip("0") or "0"
    # Compare lengths first: int() of thousands of digits is refused (and slow).
    if len(significant) > len(str(INTEGER_MAX)) or int(significant) > INTEGER_MAX:
        return str(INTEGER_MAX)
    return significant


def parse_timestamp(text):
    """Twilio's `Timestamp` (RFC 2822) as an aware datetime, or None when it is unreadable or
    not a time a call of ours can have (before 2000, or more than a day ahead of our clock)."""
    try:
        at = parsedate_to_datetime(text)
        # RFC 2822's "-0000" is UTC, but Python returns it naive and Django would read it as WIB.
        at = at if timezone.is_aware(at) else at.replace(tzinfo=UTC)
        in_utc = at.astimezone(UTC)  # overflows for year 9999 at a western offset
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if not EARLIEST_TIMESTAMP <= in_utc <= timezone.now() + CLOCK_SKEW:
        return None
    return in_utc
