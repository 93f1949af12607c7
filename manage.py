#!/usr/bin/env python
import os
import secrets
import sys

# Commands that only compare or write code, never sign anything nor serve anyone: on a fresh
# clone, with no environment, they need no DJANGO_SECRET_KEY (the settings require one when
# DJANGO_DEBUG is off), so each run gets a throwaway key of its own.
OFFLINE_COMMANDS = {"makemigrations"}

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if len(sys.argv) > 1 and sys.argv[1] in OFFLINE_COMMANDS:
        os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
