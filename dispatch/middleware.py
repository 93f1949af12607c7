from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse


class RefuseOversizedBodies:
    """DRF's parsers read the raw stream, around Django's DATA_UPLOAD_MAX_MEMORY_SIZE check.
    Reading `request.body` here applies the limit to every request, up front."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method in ("POST", "PUT", "PATCH"):
            try:
                request.body  # noqa: B018 (reading enforces the size limit)
            except RequestDataTooBig:
                return JsonResponse({"detail": "Request body too large."}, status=413)
        return self.get_response(request)
