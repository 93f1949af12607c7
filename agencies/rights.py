"""Who may view and who may change each area of the configuration desk (/config/): the one
table the pages ask. The REST API keeps its own, older rights (CONTRACT §5: admins only)."""

from agencies.models import ConfigArea, User

VIEW = "view"
CHANGE = "change"

EVERYTHING = {area: {VIEW, CHANGE} for area in ConfigArea}

RIGHTS = {
    User.Role.ADMIN: EVERYTHING,
    # Supervisors run the centre's rules day to day; people's accounts stay with the admins.
    User.Role.SUPERVISOR: {
        ConfigArea.ROUTING: {VIEW, CHANGE},
        ConfigArea.POLICIES: {VIEW, CHANGE},
        ConfigArea.AGENCIES: {VIEW, CHANGE},
        ConfigArea.USERS: {VIEW},
    },
    User.Role.OPERATOR: {},
    User.Role.AGENCY_STAFF: {},
}


def role_of(user):
    # A Django superuser is an admin whatever their role field says, as in the API.
    return User.Role.ADMIN if user.is_superuser else user.role


def may(user, right, area):
    if not user.is_authenticated or not user.is_active:
        return False
    return right in RIGHTS.get(role_of(user), {}).get(area, set())


def may_use_desk(user):
    return any(may(user, VIEW, area) for area in ConfigArea)
