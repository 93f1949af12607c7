"""Place a correctly signed Twilio request against a running server (CONTRACT §3), so anyone
can try the platform without a Twilio account."""

import secrets
import time
from pathlib import Path

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from twilio.request_validator import RequestValidator

from agencies.phones import InvalidPhoneNumber, to_e164


def signed_post(base_url, path, params, token):
    url = base_url.rstrip("/") + path
    signature = RequestValidator(token).compute_signature(url, params)
    return requests.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=15)


def running_server_url():
    """The URL `make run` wrote for this clone (any PORT), else the default port."""
    written = Path(settings.BASE_DIR) / "var" / "server-url"
    if written.exists():
        return written.read_text().strip()
    return "http://127.0.0.1:8000"


class Command(BaseCommand):
    help = "Simulate a 112 call (or SMS with --sms) from a number, signed like Twilio would."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="from_number", required=True)
        parser.add_argument("--sms", dest="sms_text", default=None, help="send an SMS instead")
        parser.add_argument(
            "--url", default=None, help="the server (default: the one `make run` started)"
        )
        parser.add_argument("--to", dest="to_number", default="112")
        parser.add_argument(
            "--hangup-after",
            type=int,
            default=None,
            metavar="SECONDS",
            help="the caller hangs up after SECONDS: a missed call unless an operator picked "
            "them up by then",
        )

    def handle(self, *args, from_number, sms_text, url, to_number, hangup_after, **options):
        url = url or running_server_url()
        token = settings.TWILIO_AUTH_TOKEN
        if not token:
            raise CommandError("TWILIO_AUTH_TOKEN is not set (make run sets a demo one).")
        try:
            caller = to_e164(from_number)
        except InvalidPhoneNumber as exc:
            raise CommandError(f"--from: not a phone number ({exc})") from None
        account = settings.TWILIO_ACCOUNT_SID or "AC" + "0" * 32
        if sms_text is None:
            path = "/calls/twilio/voice/"
            params = {
                "CallSid": "CA" + secrets.token_hex(16),
                "AccountSid": account,
                "From": caller,
                "To": to_number,
                "CallStatus": "ringing",
                "Direction": "inbound",
                "ApiVersion": "2010-04-01",
            }
        else:
            path = "/calls/twilio/sms/"
            params = {
                "MessageSid": "SM" + secrets.token_hex(16),
                "AccountSid": account,
                "From": caller,
                "To": to_number,
                "Body": sms_text,
                "NumMedia": "0",
                "ApiVersion": "2010-04-01",
            }
        self.post(url, path, params, token)
        if sms_text is None and hangup_after is not None:
            self.stdout.write(f"the caller hangs up in {hangup_after} s…")
            time.sleep(hangup_after)
            self.hang_up(url, params, token, hangup_after)

    def hang_up(self, url, params, token, seconds):
        """What Twilio sends when the caller hangs up: the queue's action (if they were still
        waiting, the platform makes the call missed) and the final status callback."""
        ended = {**params, "CallStatus": "completed", "CallDuration": str(seconds)}
        self.post(
            url,
            "/calls/twilio/queue/",
            {**ended, "QueueResult": "hangup", "QueueTime": str(seconds)},
            token,
        )
        self.post(url, "/calls/twilio/status/", ended, token)

    def post(self, url, path, params, token):
        try:
            response = signed_post(url, path, params, token)
        except requests.RequestException as exc:
            raise CommandError(f"Could not reach {url}: {exc}") from None
        self.stdout.write(f"{response.status_code} {path} from {params['From']}")
        if response.text:
            self.stdout.write(response.text)
        if response.status_code >= 400:
            raise CommandError("The server refused the simulated request.")
