import os
import secrets

from django.core.management.base import BaseCommand

from agencies.seed import seed_cilegon, seed_demo_users


class Command(BaseCommand):
    help = "Load the Kota Cilegon reference data (idempotent); --demo-users adds demo accounts."

    def add_arguments(self, parser):
        parser.add_argument("--demo-users", action="store_true")

    def handle(self, *args, demo_users=False, **options):
        seed_cilegon()
        self.stdout.write(self.style.SUCCESS("Cilegon reference data loaded."))
        if demo_users:
            password = os.environ.get("DEMO_PASSWORD") or secrets.token_urlsafe(12)
            names = seed_demo_users(password)
            self.stdout.write(f"Demo accounts ({', '.join(names)}) password: {password}")
