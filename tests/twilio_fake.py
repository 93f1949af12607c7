"""Twilio's REST API is the one edge the tests cannot reach: the SDK's `http_client` hook gets
this recorder, which keeps the exact requests and answers from a script."""

import json
import logging

import pytest
from twilio.http import HttpClient
from twilio.http.response import Response

import telephony


class RecordingTwilio(HttpClient):
    """Twilio's HTTP client as the SDK sees it: records each request, answers from a script."""

    def __init__(self):
        super().__init__(logging.getLogger("tests.twilio"), is_async=False)
        self.requests = []
        self.responses = []

    def answer(self, status, body):
        self.responses.append((status, body))

    def request(self, method, uri, params=None, data=None, headers=None, auth=None, **kwargs):
        self.requests.append((method, uri, dict(data or {})))
        self.auth = auth
        if not self.responses:
            raise AssertionError(f"unexpected Twilio request {method} {uri}")
        status, body = self.responses.pop(0)
        if isinstance(body, Exception):
            raise body
        return Response(status, body if isinstance(body, str) else json.dumps(body))


ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
FROM_NUMBER = "+15005550006"
PUBLIC = "https://112.example.go.id"
TWILIO_API = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}"


@pytest.fixture
def twilio(settings, monkeypatch):
    """The `twilio` telephony backend, talking to a RecordingTwilio instead of Twilio."""
    settings.TELEPHONY_BACKEND = "twilio"
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_FROM_NUMBER = FROM_NUMBER
    settings.PUBLIC_BASE_URL = PUBLIC
    fake = RecordingTwilio()
    monkeypatch.setattr(telephony, "TWILIO_HTTP_CLIENT", fake)
    monkeypatch.setattr(telephony, "QUEUE_SIDS", {})  # each test looks its queue up afresh
    return fake
