"""Role checks for the API. Which rows a user may see is decided in `dispatch.visibility`."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from agencies.models import User


def is_admin(user):
    return user.is_authenticated and (user.role == User.Role.ADMIN or user.is_superuser)


class IsAdmin(BasePermission):
    def has_permission(self, request, view):
        return is_admin(request.user)


def is_supervisor(user):
    """Supervisors, and admins above them: the command centre's oversight (reports)."""
    return user.is_authenticated and user.oversees


class IsSupervisor(BasePermission):
    def has_permission(self, request, view):
        return is_supervisor(request.user)


class ReadAllWriteAdmin(BasePermission):
    def has_permission(self, request, view):
        if request.method in SAFE_METHODS:
            return request.user.is_authenticated
        return is_admin(request.user)


class IsCommandCentre(BasePermission):
    def has_permission(self, request, view):
        return request.user.is_authenticated and request.user.is_command_centre


class CommandCentreWrites(BasePermission):
    """Everyone signed in reads what visibility allows; only the command centre changes it."""

    def has_permission(self, request, view):
        if request.method in SAFE_METHODS:
            return request.user.is_authenticated
        return request.user.is_authenticated and request.user.is_command_centre


class IsStaffOfAssignedAgency(BasePermission):
    message = "Only staff of the assigned agency may do this."

    def has_object_permission(self, request, view, obj):
        return request.user.agency_id is not None and request.user.agency_id == obj.agency_id
