"""Place a correctly signed Twilio request against a running server (CONTRACT §3), so anyone
can try the platform without a Twilio account."""

import secrets

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from twilio.request_validator import RequestValidator

from agencies.phones import InvalidPhoneNumber, to_e164


def signed_post(base_url, path, params, token):
    url = base_url.rstrip("/") + path
    signature = RequestValidator(token).compute_signature(url, params)
    return requests.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=15)


class Command(BaseCommand):
    help = "Simulate a 112 call (or SMS with --sms) from a number, signed like Twilio would."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="from_number", required=True)
        parser.add_argument("--sms", dest="sms_text", default=None, help="send an SMS instead")
        parser.add_argument("--url", default="http://127.0.0.1:8000")
        parser.add_argument("--to", dest="to_number", default="112")

    def handle(self, *args, from_number, sms_text, url, to_number, **options):
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
        try:
            response = signed_post(url, path, params, token)
        except requests.RequestException as exc:
            raise CommandError(f"Could not reach {url}: {exc}") from None
        self.stdout.write(f"{response.status_code} {path} from {caller}")
        self.stdout.write(response.text)
        if response.status_code >= 400:
            raise CommandError("The server refused the simulated request.")
