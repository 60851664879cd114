"""Admin: users (unlock, approve, deactivate), tokens, identities, invitations, the read-only audit trail."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from appauth import services
from appauth.forms import AdminLoginForm, AppUserChangeForm, AppUserCreationForm
from appauth.models import AppUser, AuthEvent, AuthToken, Invitation, SocialIdentity, TOTPDevice
from appauth.services.login import login_lockout

# The admin's sign-in asks for the second factor of accounts that use two-factor sign-in.
admin.site.login_form = AdminLoginForm
admin.site.login_template = "appauth/admin/login.html"


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


class TOTPDeviceInline(admin.StackedInline):
    model = TOTPDevice
    extra = 0
    can_delete = True  # staff can reset a lost authenticator; the user enrols again
    fields = readonly_fields = ("confirmed_at", "created_at")
    verbose_name_plural = _("two-factor sign-in")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AppUser)
class AppUserAdmin(UserAdmin):
    form = AppUserChangeForm
    add_form = AppUserCreationForm
    ordering = ["email"]
    # Awaiting approval is a filter, not a column: the list must fit a laptop screen.
    list_display = ["email", "first_name", "last_name", "email_verified", "is_active", "is_staff", "last_login"]
    list_filter = ["pending_approval", "email_verified", "is_active", "is_staff", "is_superuser"]
    search_fields = ["email", "first_name", "last_name", "username"]
    readonly_fields = ["last_login", "date_joined", "last_login_ip", "locked_until", "email_verified_at"]
    fieldsets = (
        (None, {"fields": ("email", "username", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name", "avatar")}),
        (
            _("Verification & security"),
            {"fields": ("email_verified", "email_verified_at", "last_login_ip", "locked_until")},
        ),
        (
            _("Permissions"),
            {"fields": ("is_active", "pending_approval", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "usable_password", "password1", "password2")}),)
    inlines = [AuthTokenInline, SocialIdentityInline, TOTPDeviceInline]
    actions = ["unlock_accounts", "approve_accounts", "deactivate_accounts"]

    def get_inlines(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        return list(self.inlines) if obj is not None else []

    @admin.action(description=_("Clear the login lockout"))
    def unlock_accounts(self, request: HttpRequest, queryset: QuerySet[AppUser]) -> None:
        lockout = login_lockout()
        for user in queryset:
            lockout.clear(user.email, forget_history=True)
        queryset.update(locked_until=None)
        self.message_user(request, _("Lockout cleared."), messages.SUCCESS)

    @admin.action(description=_("Approve accounts awaiting approval"))
    def approve_accounts(self, request: HttpRequest, queryset: QuerySet[AppUser]) -> None:
        approver = request.user if isinstance(request.user, AppUser) else None
        pending = list(queryset.filter(pending_approval=True))
        for user in pending:
            services.user_approve(user=user, approved_by=approver)
        self.message_user(request, _("%(count)d account(s) approved.") % {"count": len(pending)}, messages.SUCCESS)

    @admin.action(description=_("Deactivate (revoke tokens, stop running answers)"))
    def deactivate_accounts(self, request: HttpRequest, queryset: QuerySet[AppUser]) -> None:
        actor = request.user if isinstance(request.user, AppUser) else None
        active = [user for user in queryset.filter(is_active=True) if user != actor]
        for user in active:
            services.user_deactivate(user=user, by=actor)
        self.message_user(request, _("%(count)d account(s) deactivated.") % {"count": len(active)}, messages.SUCCESS)


class InvitationForm(forms.ModelForm):
    class Meta:
        model = Invitation
        fields = ("email", "note", "expires_at")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.instance.pk:
            self.fields["expires_at"].initial = timezone.now() + timedelta(days=settings.AUTH_INVITATION_DAYS)


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    form = InvitationForm
    list_display = ["email", "note", "created_by", "created_at", "expires_at", "accepted_at", "revoked_at"]
    list_filter = ["accepted_at", "revoked_at"]
    search_fields = ["email", "note"]
    list_select_related = ["created_by"]
    readonly_fields = ["created_by", "created_at", "accepted_at", "accepted_by", "revoked_at"]
    actions = ["revoke_invitations"]

    def save_model(self, request: HttpRequest, obj: Invitation, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        creator = request.user if isinstance(request.user, AppUser) else None
        code = services.invitation_issue(invitation=obj, created_by=creator)
        self.message_user(
            request,
            _("Invitation link (shown only now, copy it): %(link)s") % {"link": services.invitation_link(code)},
            messages.WARNING,
        )

    @admin.action(description=_("Revoke invitations"))
    def revoke_invitations(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> None:
        for invitation in queryset:
            services.invitation_revoke(invitation=invitation)
        self.message_user(request, _("Invitations revoked."), messages.SUCCESS)


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
