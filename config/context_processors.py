from django.conf import settings

from agencies import rights


def site(request):
    user = getattr(request, "user", None)
    return {
        "CITY_NAME": settings.CITY_NAME,
        # The top bar's link to the configuration desk, for the roles that may open it.
        "MAY_CONFIGURE": user is not None and rights.may_use_desk(user),
    }
