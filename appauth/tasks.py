"""Account emails as Celery tasks: they take ids, load by id, and retry on mail-server errors.

Each task is idempotent in effect (it re-reads the current state: a verification mail is
not sent to an already verified user, a deleted user gets nothing).
"""

from __future__ import annotations

from smtplib import SMTPException

from celery import shared_task

from appauth.services import notifications

_RETRY = {
    "autoretry_for": (SMTPException, OSError),
    "retry_backoff": True,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 5,
    "ignore_result": True,
}


@shared_task(**_RETRY)
def send_verification_email(user_id: str) -> None:
    notifications.verification_email_send(user_id=user_id)


@shared_task(**_RETRY)
def send_password_reset_email(user_id: str) -> None:
    notifications.password_reset_email_send(user_id=user_id)


@shared_task(**_RETRY)
def send_already_registered_email(user_id: str) -> None:
    notifications.already_registered_email_send(user_id=user_id)


@shared_task(**_RETRY)
def send_password_changed_email(user_id: str, event_id: int) -> None:
    notifications.password_changed_email_send(user_id=user_id, event_id=event_id)


@shared_task(**_RETRY)
def send_new_device_email(user_id: str, event_id: int) -> None:
    notifications.new_device_email_send(user_id=user_id, event_id=event_id)


@shared_task(**_RETRY)
def send_email_change_emails(event_id: int) -> None:
    notifications.email_change_emails_send(event_id=event_id)


@shared_task(**_RETRY)
def send_email_changed_notice(event_id: int) -> None:
    notifications.email_changed_notice_send(event_id=event_id)
