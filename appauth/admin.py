"""Admin: users (with unlock), their tokens and Google identities, and the read-only audit trail."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from appauth.forms import AppUserChangeForm, AppUserCreationForm
from appauth.models import AppUser, AuthEvent, AuthToken, SocialIdentity
from appauth.services.login import login_lockout


class AuthTokenInline(admin.TabularInline):
    model = AuthToken
    extra = 0
    can_delete = True
    fields = readonly_fields = (
        "token_key",
        "device_name",
        "ip_address",
        "user_agent",
        "created",
        "last_used_at",
        "expiry",
    )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SocialIdentityInline(admin.TabularInline):
    model = SocialIdentity
    extra = 0
    fields = readonly_fields = ("provider", "subject", "email", "created_at", "last_login_at")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AppUser)
class AppUserAdmin(UserAdmin):
    form = AppUserChangeForm
    add_form = AppUserCreationForm
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "email_verified", "is_active", "is_staff", "last_login"]
    list_filter = ["email_verified", "is_active", "is_staff", "is_superuser"]
    search_fields = ["email", "first_name", "last_name", "username"]
    readonly_fields = ["last_login", "date_joined", "last_login_ip", "locked_until", "email_verified_at"]
    fieldsets = (
        (None, {"fields": ("email", "username", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name", "avatar")}),
        (
            _("Verification & security"),
            {"fields": ("email_verified", "email_verified_at", "last_login_ip", "locked_until")},
        ),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "usable_password", "password1", "password2")}),)
    inlines = [AuthTokenInline, SocialIdentityInline]
    actions = ["unlock_accounts"]

    def get_inlines(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        return list(self.inlines) if obj is not None else []

    @admin.action(description=_("Clear the login lockout"))
    def unlock_accounts(self, request: HttpRequest, queryset: QuerySet[AppUser]) -> None:
        lockout = login_lockout()
        for user in queryset:
            lockout.clear(user.email, forget_history=True)
        queryset.update(locked_until=None)
        self.message_user(request, _("Lockout cleared."), messages.SUCCESS)


@admin.register(AuthToken)
class AuthTokenAdmin(admin.ModelAdmin):
    list_display = ["token_key", "user", "device_name", "ip_address", "created", "last_used_at", "expiry"]
    search_fields = ["user__email", "token_key", "device_name"]
    list_select_related = ["user"]
    fields = readonly_fields = (
        "id",
        "token_key",
        "user",
        "device_name",
        "ip_address",
        "user_agent",
        "created",
        "last_used_at",
        "expiry",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuthEvent)
class AuthEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "email", "ip_address", "user"]
    list_filter = ["kind"]
    search_fields = ["email", "ip_address", "subject_id"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
