"""Every error the API answers is JSON that names what is wrong; none is a 500 for bad input."""

import logging

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from dispatch.incidents import Conflict
from telephony import TelephonyError

logger = logging.getLogger(__name__)


def exception_handler(exc, context):
    if isinstance(exc, Conflict):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, TelephonyError):
        return Response(
            {"detail": f"The telephony provider could not do it now: {exc}"},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    if isinstance(exc, IntegrityError):
        # A uniqueness race lost to a concurrent request: the same thing already exists.
        return Response(
            {"detail": "Conflicts with an existing record."}, status=status.HTTP_409_CONFLICT
        )
    if isinstance(exc, DjangoValidationError):
        exc = ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        )
    if isinstance(exc, ObjectDoesNotExist):
        exc = NotFound()
    return drf_exception_handler(exc, context) or server_error(exc, context)


def server_error(exc, context):
    """Anything else is our fault: a 500 an API client can read (JSON, like every other API
    error, in DEBUG too), logged with its traceback here since Django never sees the exception."""
    request = context.get("request")
    logger.error(
        "unexpected error in %s %s",
        getattr(request, "method", "?"),
        getattr(request, "path", "?"),
        exc_info=(type(exc), exc, exc.__traceback__),
    )
    set_rollback()
    return Response(
        {"detail": "Internal server error."}, status=status.HTTP_500_INTERNAL_SERVER_ERROR
    )
