"""Mail tasks: sent after commit only, by id, idempotent in effect, nothing secret in their arguments."""

from unittest import mock

import pytest
from django.core import mail
from django.db import transaction

from appauth import services, tasks
from tests.appauth.factories import CLIENT
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_nothing_is_sent_before_commit_or_after_a_rollback(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        services.user_register(email="later@example.com", password="a perfectly fine passphrase", client=CLIENT)
    assert mail.outbox == []
    assert len(callbacks) == 1

    class Abort(Exception):
        pass

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(Abort), transaction.atomic():
        services.user_register(email="rolled@example.com", password="a perfectly fine passphrase", client=CLIENT)
        raise Abort
    assert callbacks == []
    assert mail.outbox == []


def test_tasks_take_only_ids(run_on_commit):
    user = UserFactory(email_verified=False)

    with mock.patch("backend.tasks.dispatch") as dispatch, run_on_commit():
        services.user_verification_resend(email=user.email, client=CLIENT)

    dispatch.assert_called_once_with(tasks.send_verification_email, args=(str(user.pk),), kwargs=None, queue="")


def test_verification_mail_is_not_sent_to_an_already_verified_user():
    user = UserFactory(email_verified=True)

    tasks.send_verification_email(str(user.pk))

    assert mail.outbox == []


def test_mail_to_a_deleted_user_is_a_no_op():
    user = UserFactory()
    user_id = str(user.pk)
    user.delete()

    tasks.send_password_reset_email(user_id)
    tasks.send_new_device_email(user_id, 12345)

    assert mail.outbox == []


def test_mail_tasks_declare_retries_for_mail_server_errors():
    for task in [
        tasks.send_verification_email,
        tasks.send_password_reset_email,
        tasks.send_already_registered_email,
        tasks.send_password_changed_email,
        tasks.send_new_device_email,
    ]:
        assert OSError in task.autoretry_for
        assert task.max_retries == 5


def test_every_mail_has_text_and_html(run_on_commit):
    user = UserFactory(email_verified=False, first_name="Ada")
    event = services.auth_event_record(kind="login_succeeded", user=user, client=CLIENT)

    tasks.send_verification_email(str(user.pk))
    tasks.send_password_reset_email(str(user.pk))
    tasks.send_already_registered_email(str(user.pk))
    tasks.send_password_changed_email(str(user.pk), event.pk)
    tasks.send_new_device_email(str(user.pk), event.pk)

    assert len(mail.outbox) == 5
    for message in mail.outbox:
        assert message.subject and "\n" not in message.subject
        assert "Hello Ada," in message.body
        assert "&amp;" not in message.body
        [(html, mimetype)] = message.alternatives
        assert mimetype == "text/html" and "<html" in html
