"""The operator softphone's browser side: the vendored Twilio Voice SDK is there with its licence
and version note, and the Content-Security-Policy opens to Twilio's hosts only when the
softphone is configured, never to eval or inline script."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "static" / "vendor" / "twilio-voice-sdk"
SDK_VERSION = "2.18.5"

# The policy as it was before the softphone, byte for byte.
STRICT_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SOFTPHONE_SETTINGS = {
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_API_KEY_SID": "SK" + "0" * 32,
    "TWILIO_API_KEY_SECRET": "secret",
    "TWILIO_TWIML_APP_SID": "AP" + "0" * 32,
}


def directives(policy):
    return {
        name: sources.split()
        for name, _, sources in (part.strip().partition(" ") for part in policy.split(";"))
    }


def test_vendored_sdk_has_its_licence_and_version_note():
    sdk = (VENDOR / "twilio.min.js").read_text()
    assert f'RELEASE_VERSION="{SDK_VERSION}"' in sdk
    assert "Apache License, Version 2.0" in (VENDOR / "LICENSE.md").read_text()
    note = (VENDOR / "README.md").read_text()
    assert "@twilio/voice-sdk" in note
    assert SDK_VERSION in note
    assert f"npm pack @twilio/voice-sdk@{SDK_VERSION}" in note
    assert sorted(path.name for path in VENDOR.iterdir()) == [
        "LICENSE.md",
        "README.md",
        "twilio.min.js",
    ]


def test_vendored_sdk_needs_no_eval():
    sdk = (VENDOR / "twilio.min.js").read_text()
    assert not re.search(r"\beval\s*\(|\bFunction\s*\(", sdk)


@pytest.fixture
def without_softphone(settings):
    for name in SOFTPHONE_SETTINGS:
        setattr(settings, name, "")
    return settings


@pytest.fixture
def with_softphone(settings):
    for name, value in SOFTPHONE_SETTINGS.items():
        setattr(settings, name, value)
    return settings


@pytest.mark.django_db
def test_policy_stays_strict_without_the_softphone(client, without_softphone):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == STRICT_POLICY


@pytest.mark.django_db
@pytest.mark.parametrize("missing", sorted(SOFTPHONE_SETTINGS))
def test_one_missing_setting_keeps_the_policy_strict(client, with_softphone, missing):
    setattr(with_softphone, missing, "")
    response = client.get("/accounts/login/")
    assert response.headers["Content-Security-Policy"] == STRICT_POLICY


@pytest.mark.django_db
def test_policy_allows_twilio_when_the_softphone_is_configured(client, with_softphone):
    policy = client.get("/accounts/login/").headers["Content-Security-Policy"]
    found = directives(policy)
    strict = directives(STRICT_POLICY)

    assert found["script-src"] == ["'self'"]
    assert "'unsafe-eval'" not in policy
    assert "'unsafe-inline'" not in policy
    assert "*" not in policy
    connect = found["connect-src"]
    assert connect[0] == "'self'"
    assert "wss://voice-js.roaming.twilio.com" in connect
    assert "wss://voice-js.singapore.twilio.com" in connect
    assert "https://eventgw.twilio.com" in connect
    assert "https://sdk.twilio.com" in connect
    assert all(source.endswith(".twilio.com") for source in connect[1:])
    assert found["media-src"] == ["'self'", "https://sdk.twilio.com"]
    # Nothing else moves.
    for name, sources in strict.items():
        if name != "connect-src":
            assert found[name] == sources, name


def test_policy_names_every_signalling_edge_of_the_vendored_sdk(with_softphone):
    """The SDK reconnects to the edge Twilio names; each edge it knows must be allowed."""
    from config.middleware import content_security_policy

    sdk = (VENDOR / "twilio.min.js").read_text()
    edges = set(re.findall(r'Edge\["\w+"\]="([a-z0-9-]+)"', sdk))
    assert "roaming" in edges
    connect = directives(content_security_policy(softphone=True))["connect-src"]
    assert {f"wss://voice-js.{edge}.twilio.com" for edge in edges} <= set(connect)
