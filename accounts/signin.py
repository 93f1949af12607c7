"""Sign-in rules shared by the login page, the admin login and `POST /api/v1/auth/token/`
(CONTRACT §12): django-axes locks a username out after `AXES_FAILURE_LIMIT` failed passwords
for `AXES_COOLOFF_TIME`; users of the roles in `REQUIRE_2FA` also confirm a TOTP code."""

import logging

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django_otp import match_token, user_has_device
from redis.exceptions import RedisError
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.throttling import ScopedRateThrottle

logger = logging.getLogger(__name__)


def client_ip(request):
    """The client's address for django-axes: REMOTE_ADDR, which uvicorn sets from
    X-Forwarded-For only when the trusted proxy sent it (FORWARDED_ALLOW_IPS)."""
    return request.META.get("REMOTE_ADDR")


def lockout_message():
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return _(
        "Too many failed sign-ins for this username. Try again in %(minutes)d minutes, "
        "or ask an admin to unlock it."
    ) % {"minutes": minutes}


def is_locked_out(request):
    """Whether django-axes refused this request's sign-in (its backend marks the request)."""
    return bool(getattr(request, "axes_locked_out", False))


def lockout_response(request, *args):
    """django-axes' answer to a locked-out sign-in on the login pages: the login page again,
    saying why, with 429. (The token endpoint answers for itself: `LockedOut`.)
    Takes `*args` because django-axes passes `(response, credentials)` on one path and
    `(credentials)` on another; neither is needed here."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": lockout_message()}, status=status.HTTP_429_TOO_MANY_REQUESTS)
    context = {
        "locked_out": lockout_message(),
        "next": request.POST.get("next") or request.GET.get("next", ""),
    }
    return render(request, "registration/login.html", context, status=429)


class LockedOut(APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "locked_out"

    def __init__(self):
        super().__init__(lockout_message())


class LoginThrottle(ScopedRateThrottle):
    """DRF's per-client rate limit on the token endpoint, counted in the shared cache (Redis).
    With Redis unreachable it lets the request through: the database-backed lockout still
    limits guessing, and signing in must not fail because a counter is away."""

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except RedisError:
            logger.warning("sign-in throttle unavailable (Redis); not throttling", exc_info=True)
            return True


def requires_second_factor(user):
    roles = settings.REQUIRE_2FA
    return user.role in roles or (user.is_superuser and "admin" in roles)


def second_factor_error(user, code):
    """Why this user may not sign in with this TOTP code, or None when they may (also when
    their role needs no second factor)."""
    if not requires_second_factor(user):
        return None
    if not user_has_device(user, confirmed=True):
        return _("Your account must sign in with an authenticator app. Ask an admin to enrol it.")
    if not code:
        return _("Enter the code from your authenticator app.")
    if match_token(user, code) is None:
        return _("Wrong or expired authenticator code.")
    return None
