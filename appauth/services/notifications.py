"""Account emails: enqueued after commit, rendered and sent by Celery tasks.

`email_enqueue` is the only way request paths send mail: the task runs once the
transaction commits, and a failure to enqueue (or, in eager mode, to send) is logged and
never breaks the request (`backend.tasks.enqueue_on_commit`). The `*_send` functions are what the tasks call; they load
everything by id, so no secret ever passes through the broker.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.template.loader import render_to_string

from appauth.models import AppUser, AuthEvent
from appauth.tokens import (
    email_change_token_make,
    email_verification_token_generator,
    password_reset_token_generator,
    uid_encode,
)
from backend.email import send_email
from backend.tasks import enqueue_on_commit

# The user id enqueued when an address matches no account, so that the request does the same
# work either way (timing-safe); no user has it, so the task sends nothing.
NO_ACCOUNT = "00000000-0000-0000-0000-000000000000"


def email_enqueue(task_name: str, *args: str | int) -> None:
    """Run the task `appauth.tasks.<task_name>` with `args` after the current transaction commits."""
    enqueue_on_commit(f"appauth.tasks.{task_name}", args=tuple(args))


def _frontend_link(path: str, user: AppUser, token: str) -> str:
    return f"{settings.FRONTEND_URL}{path}?uid={uid_encode(user)}&token={token}"


def _send(user: AppUser, template: str, context: dict[str, Any], *, to: str | None = None) -> None:
    context = {
        "site_name": settings.SITE_NAME,
        "support_email": settings.SUPPORT_EMAIL,
        "frontend_url": settings.FRONTEND_URL,
        "user_name": user.first_name,
        **context,
    }
    subject = render_to_string(f"appauth/email/{template}_subject.txt", context).strip()
    text_body = render_to_string(f"appauth/email/{template}.txt", context)
    html_body = render_to_string(f"appauth/email/{template}.html", context)
    send_email(to=[to or user.email], subject=subject, text_body=text_body, html_body=html_body)


def _active_user(user_id: str) -> AppUser | None:
    return AppUser.objects.filter(pk=user_id, is_active=True).first()


def verification_email_send(*, user_id: str) -> None:
    user = _active_user(user_id)
    if user is None or user.email_verified:
        return
    token = email_verification_token_generator.make_token(user)
    _send(
        user,
        "verify_email",
        {
            "link": _frontend_link(settings.AUTH_VERIFY_EMAIL_PATH, user, token),
            "valid_hours": math.ceil(settings.EMAIL_VERIFICATION_TIMEOUT / 3600),
        },
    )


def password_reset_email_send(*, user_id: str) -> None:
    user = _active_user(user_id)
    if user is None:
        return
    token = password_reset_token_generator.make_token(user)
    _send(
        user,
        "password_reset",
        {
            "link": _frontend_link(settings.AUTH_PASSWORD_RESET_PATH, user, token),
            "valid_minutes": math.ceil(settings.PASSWORD_RESET_TIMEOUT / 60),
        },
    )


def already_registered_email_send(*, user_id: str) -> None:
    user = _active_user(user_id)
    if user is None:
        return
    _send(user, "already_registered", {"reset_link": f"{settings.FRONTEND_URL}{settings.AUTH_PASSWORD_RESET_PATH}"})


def _event_context(event_id: int) -> dict[str, Any]:
    event = AuthEvent.objects.filter(pk=event_id).first()
    if event is None:
        return {"when": "", "ip_address": "", "device": ""}
    device = str(event.details.get("device_name") or "") or event.user_agent or "unknown"
    return {
        "when": event.created_at.strftime("%Y-%m-%d %H:%M"),
        "ip_address": event.ip_address or "unknown",
        "device": device,
    }


def password_changed_email_send(*, user_id: str, event_id: int) -> None:
    user = _active_user(user_id)
    if user is None:
        return
    _send(user, "password_changed", _event_context(event_id))


def new_device_email_send(*, user_id: str, event_id: int) -> None:
    user = _active_user(user_id)
    if user is None:
        return
    _send(user, "new_device", _event_context(event_id))


def email_change_emails_send(*, event_id: int) -> None:
    """The confirmation link to the new address and a heads-up to the current one."""
    event = AuthEvent.objects.select_related("user").filter(pk=event_id).first()
    if event is None or event.user is None or not event.user.is_active:
        return
    user, new_email = event.user, str(event.details.get("new_email", ""))
    if not new_email or user.email != event.email:  # already changed since the request
        return
    token = email_change_token_make(user=user, new_email=new_email)
    link = f"{settings.FRONTEND_URL}{settings.AUTH_EMAIL_CHANGE_PATH}?{urlencode({'token': token})}"
    valid_hours = math.ceil(settings.EMAIL_VERIFICATION_TIMEOUT / 3600)
    _send(user, "email_change_verify", {"link": link, "valid_hours": valid_hours, "new_email": new_email}, to=new_email)
    _send(user, "email_change_requested", {"new_email": new_email, **_event_context(event_id)})


def email_changed_notice_send(*, event_id: int) -> None:
    """Tell the previous address that the login email is now another one."""
    event = AuthEvent.objects.select_related("user").filter(pk=event_id).first()
    if event is None or event.user is None or not event.email:
        return
    context = {"new_email": str(event.details.get("new_email", "")), **_event_context(event_id)}
    _send(event.user, "email_changed", context, to=event.email)
