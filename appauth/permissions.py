"""Who may call the staff endpoints: active staff, with two-factor sign-in when it is required."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from appauth.errors import ErrorCode
from appauth.models import AppUser
from appauth.services.mfa import mfa_enrollment_required
from backend.errors import PermissionDenied


def staff_check(user: Any) -> None:
    """Raise 403 unless `user` is active staff; `mfa_enrollment_required` while AUTH_MFA_REQUIRED_FOR_STAFF
    is on and they have not enrolled (the admin refuses them the same way)."""
    if not (isinstance(user, AppUser) and user.is_active and user.is_staff):
        raise PermissionDenied("Staff only.")
    if mfa_enrollment_required(user=user):
        raise PermissionDenied(
            "Staff accounts must use two-factor sign-in: set it up first.", code=ErrorCode.MFA_ENROLLMENT_REQUIRED
        )


class IsStaff(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        if not request.user.is_authenticated:
            return False  # DRF answers 401
        staff_check(request.user)
        return True
