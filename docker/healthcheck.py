"""Docker health check for the web service: GET /healthz/ with a Host header Django accepts.

/healthz/ is exempt from the HTTPS redirect (settings.SECURE_REDIRECT_EXEMPT), so plain HTTP
from inside the container answers 200. Standard library only.
"""

import os
import sys
import urllib.request

host = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost").split(",")[0].strip().lstrip(".")
if host in ("", "*"):
    host = "localhost"
port = os.environ.get("PORT", "8000")
request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz/", headers={"Host": host})
try:
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (fixed URL)
        sys.exit(0 if response.status == 200 else 1)
except OSError as exc:
    print(exc, file=sys.stderr)
    sys.exit(1)
