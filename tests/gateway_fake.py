"""The Indonesian SMS gateway, both ways, for the tests: its shared secret, its signature
computed with hmac itself (not the platform's helper), and a real HTTP server on 127.0.0.1 that
stands in for the gateway receiving our texts."""

import hashlib
import hmac
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

SECRET = "gateway-secret-0123456789abcdef"


@pytest.fixture
def gateway_secret(settings):
    settings.SMS_GATEWAY_SECRET = SECRET


def signature(raw, secret=SECRET):
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


class FakeGateway:
    """A real HTTP server on 127.0.0.1: records each request, answers from a script."""

    def __init__(self):
        self.requests = []
        self.answers = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                fake.requests.append((self.command, self.path, dict(self.headers), raw))
                status, body, delay = fake.answers.pop(0) if fake.answers else (200, b"{}", 0)
                time.sleep(delay)
                self.send_response(status)
                if status in (301, 302, 307, 308):
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/send"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, status, body=b"{}", delay=0):
        self.answers.append((status, body, delay))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_gateway(settings, gateway_secret):
    fake = FakeGateway()
    settings.SMS_GATEWAY_URL = fake.url
    settings.TELEPHONY_SMS_BACKEND = "gateway"
    settings.SMS_GATEWAY_TIMEOUT = 0.5
    yield fake
    fake.close()
