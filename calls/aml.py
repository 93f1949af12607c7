"""Advanced Mobile Location (ETSI TS 103 625): the location SMS a handset sends by itself while
it calls (or texts) 112.

The message is one line of `key=value` fields separated by `;`, headed by the version:

    A"ML=1;lt=+55.74317;lg=+012.41630;rd=50;top=20130717145535;lc=90;pm=W;
    si=123456789012345;ei=1234567890123456;mcc=234;mnc=30;ml=124

`lt`/`lg` WGS84 degrees (at most 5 decimals), `rd` the radius in metres, `top` the time of
positioning (UTC, YYYYMMDDhhmmss), `lc` the level of confidence in per cent, `pm` the
positioning method (G GNSS, W Wi-Fi, C cell, N none), `si` IMSI, `ei` IMEI(SV), `mcc`/`mnc` the
network, `ml` the message length.

Anybody can text 112, so this text is hostile until proven otherwise: it is parsed by hand (no
`eval`, no float: `NaN`, `1e9` and the like never pass), ASCII only, each field once, each value
in its format and range. Anything else raises `MalformedAML`, and the caller drops the text.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

HEADER = 'A"ML=1'
PREFIX = HEADER + ";"
# A real AML is about 130 characters; nothing legitimate comes near this.
MAX_LENGTH = 320

# Positioning methods (`pm`): GNSS, Wi-Fi, cell, none.
METHODS = frozenset("GWCN")
NO_POSITION = "N"

# ASCII only: `\d` would take Arabic-Indic or full-width digits.
LATITUDE = re.compile(r"[+-]?[0-9]{1,2}(?:\.[0-9]{1,5})?")
LONGITUDE = re.compile(r"[+-]?[0-9]{1,3}(?:\.[0-9]{1,5})?")
KEY = re.compile(r"[a-z]{1,8}")
# What a field added by a later revision of the standard may carry (it is ignored).
UNKNOWN_VALUE = re.compile(r"[A-Za-z0-9+.\-]{0,32}")

REQUIRED = ("lt", "lg", "rd", "top")
MAX_RADIUS_M = 100_000  # 100 km: wider than any cell; beyond that it is no position


class MalformedAML(ValueError):
    """The text starts like an AML but is not a valid one. The message says why (for logs)."""


@dataclass(frozen=True, slots=True)
class AMLReport:
    latitude: Decimal
    longitude: Decimal
    radius_m: int
    positioned_at: datetime
    confidence: int | None = None
    method: str | None = None
    imsi: str | None = None
    imei: str | None = None
    mcc: str | None = None
    mnc: str | None = None

    @property
    def has_position(self):
        """`pm=N`: the handset found no position; its `lt`/`lg` mean nothing."""
        return self.method != NO_POSITION


def is_aml(body):
    return body.startswith(PREFIX)


def parse(body):
    """The `AMLReport` of an AML text, or `MalformedAML`."""
    if not isinstance(body, str):
        raise MalformedAML("not text")
    if len(body) > MAX_LENGTH:
        raise MalformedAML("too long")
    # A relay may add a line end; nothing else around the message is tolerated.
    text = body.rstrip("\r\n")
    if not text.isascii() or not text.isprintable():
        raise MalformedAML("not printable ASCII")
    if not is_aml(text):
        raise MalformedAML("no AML header")
    fields = split_fields(text[len(PREFIX) :])
    missing = [key for key in REQUIRED if key not in fields]
    if missing:
        raise MalformedAML(f"missing {', '.join(missing)}")
    if "ml" in fields:
        check_length(fields["ml"], text)
    return AMLReport(
        latitude=degrees(fields["lt"], LATITUDE, 90, "lt"),
        longitude=degrees(fields["lg"], LONGITUDE, 180, "lg"),
        radius_m=integer(fields["rd"], "rd", 1, MAX_RADIUS_M, digits=6),
        positioned_at=positioning_time(fields["top"]),
        confidence=optional(fields, "lc", lambda v: integer(v, "lc", 0, 100, digits=3)),
        method=optional(fields, "pm", method),
        imsi=optional(fields, "si", lambda v: digit_string(v, "si", 5, 15)),
        imei=optional(fields, "ei", lambda v: digit_string(v, "ei", 14, 16)),
        mcc=optional(fields, "mcc", lambda v: digit_string(v, "mcc", 3, 3)),
        mnc=optional(fields, "mnc", lambda v: digit_string(v, "mnc", 2, 3)),
    )


KNOWN_KEYS = frozenset({"lt", "lg", "rd", "top", "lc", "pm", "si", "ei", "mcc", "mnc", "ml"})


def split_fields(rest):
    """`key=value;…` into a dict. Each key at most once: two latitudes are no latitude."""
    fields = {}
    for part in rest.split(";"):
        key, sep, value = part.partition("=")
        if not sep or not KEY.fullmatch(key):
            raise MalformedAML("not key=value")
        if key in fields:
            raise MalformedAML(f"{key} twice")
        if key not in KNOWN_KEYS and not UNKNOWN_VALUE.fullmatch(value):
            raise MalformedAML(f"bad {key}")
        fields[key] = value
    return fields


def check_length(value, text):
    """`ml` guards against a message cut short. The standard's own example counts the message
    without its `A"ML=1` header; a whole-message count is accepted too."""
    length = integer(value, "ml", 1, MAX_LENGTH, digits=3)
    if length not in (len(text), len(text) - len(HEADER)):
        raise MalformedAML("ml does not match the length")


def degrees(value, pattern, limit, key):
    if not pattern.fullmatch(value):
        raise MalformedAML(f"bad {key}")
    number = Decimal(value)
    if not -limit <= number <= limit:
        raise MalformedAML(f"{key} out of range")
    return number


def integer(value, key, low, high, *, digits):
    if not (0 < len(value) <= digits and value.isascii() and value.isdigit()):
        raise MalformedAML(f"bad {key}")
    number = int(value)
    if not low <= number <= high:
        raise MalformedAML(f"{key} out of range")
    return number


def digit_string(value, key, shortest, longest):
    if not (shortest <= len(value) <= longest and value.isascii() and value.isdigit()):
        raise MalformedAML(f"bad {key}")
    return value


def positioning_time(value):
    if not (len(value) == 14 and value.isascii() and value.isdigit()):
        raise MalformedAML("bad top")
    # Sliced, not strptime: its one-or-two-digit fields would read 2013131… as some other day.
    parts = [int(value[i:j]) for i, j in ((0, 4), (4, 6), (6, 8), (8, 10), (10, 12), (12, 14))]
    try:
        return datetime(*parts, tzinfo=UTC)
    except ValueError as error:  # 20261331…: the right shape, no such time
        raise MalformedAML("bad top") from error


def method(value):
    if value not in METHODS:
        raise MalformedAML("bad pm")
    return value


def optional(fields, key, parse_value):
    """An optional field: absent, or left empty by a handset that does not know it (no SIM
    gives no IMSI), is None."""
    value = fields.get(key, "")
    return parse_value(value) if value else None
