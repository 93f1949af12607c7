"""Twilio's REST API is the one edge the tests cannot reach: the SDK's `http_client` hook gets
this recorder, which keeps the exact requests and answers from a script."""

import json
import logging

from twilio.http import HttpClient
from twilio.http.response import Response


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
