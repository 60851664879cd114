"""Conversations are deleted after the retention period, by the daily task or by hand; counts only."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from sitehelp import tasks
from sitehelp.models import HelpFeedback, HelpMessage, HelpSession
from sitehelp.services import retention
from tests.sitehelp.factories import make_feedback, make_message, make_visitor

pytestmark = pytest.mark.django_db


def _aged(days: int) -> HelpSession:
    session = make_visitor().session
    make_feedback(make_message(session, question="old secret question"))
    make_message(session)
    then = timezone.now() - timedelta(days=days)
    HelpSession.objects.filter(id=session.id).update(last_activity_at=then)
    HelpMessage.objects.filter(session=session).update(created_at=then)
    return session


@pytest.fixture
def history():
    old = _aged(200)
    recent = _aged(10)
    page_old = make_message(None, question="", answer="")
    HelpMessage.objects.filter(id=page_old.id).update(created_at=timezone.now() - timedelta(days=200))
    make_message(None, question="", answer="")  # a recent ask-page record
    return old, recent


def test_a_dry_run_counts_and_deletes_nothing(history):
    counts = retention.purge_count(before=retention.retention_horizon())

    assert counts == retention.PurgeCounts(sessions=1, messages=3, feedback=1)
    assert HelpSession.objects.count() == 2


def test_the_purge_deletes_expired_conversations_with_their_feedback_in_batches(history, caplog):
    _, recent = history

    with override_settings(HELP_PURGE_BATCH_SIZE=1), caplog.at_level(logging.INFO):
        counts = retention.purge_expired()

    assert counts == retention.PurgeCounts(sessions=1, messages=3, feedback=1)
    assert list(HelpSession.objects.all()) == [recent]
    assert HelpMessage.objects.filter(session__isnull=True).count() == 1
    assert HelpFeedback.objects.count() == 1
    assert "old secret question" not in caplog.text


def test_the_daily_task_is_idempotent(history):
    tasks.purge_expired()
    tasks.purge_expired()

    assert HelpSession.objects.count() == 1
    assert retention.purge_count(before=retention.retention_horizon()) == retention.PurgeCounts(0, 0, 0)


def test_the_retention_period_is_a_setting(history):
    with override_settings(HELP_RETENTION_DAYS=5):
        retention.purge_expired()

    assert not HelpSession.objects.exists()


def test_the_command_dry_run_prints_counts_only(history, capsys):
    call_command("sitehelp_purge", "--dry-run")

    out = capsys.readouterr().out
    assert out.startswith("Would delete 1 sessions, 3 messages, 1 feedback")
    assert "secret" not in out
    assert HelpSession.objects.count() == 2


def test_the_command_deletes_before_a_date(history, capsys):
    call_command("sitehelp_purge", "--before", (timezone.now() - timedelta(days=5)).date().isoformat())

    assert capsys.readouterr().out.startswith("Deleted 2 sessions, 5 messages, 2 feedback")
    assert not HelpSession.objects.exists()


def test_the_command_deletes_one_session(history, capsys):
    old, recent = history

    call_command("sitehelp_purge", "--session", str(recent.id))

    assert capsys.readouterr().out.startswith("Deleted 1 sessions, 2 messages, 1 feedback")
    assert list(HelpSession.objects.all()) == [old]


@pytest.mark.parametrize(
    "arguments", [["--before", "yesterday"], ["--session", "nope"], ["--before", "2026-01-01", "--session", "x"]]
)
def test_the_command_refuses_bad_arguments(arguments):
    with pytest.raises(CommandError):
        call_command("sitehelp_purge", *arguments)
