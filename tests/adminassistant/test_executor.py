"""The executor answers the seed's questions over the fixture data, capped, read-only."""

from __future__ import annotations

import pytest

from adminassistant.eval import fixtures
from adminassistant.executor.runner import execute
from tests.adminassistant.helpers import DB

pytestmark = [DB, pytest.mark.usefixtures("on_default_alias")]


def run(code: str, manifest, **kwargs):
    return execute(code, manifest=manifest, **kwargs)


def test_registrations_today(seeded, full_manifest):
    out = run("result = AppUser.objects.filter(date_joined__date=today()).count()", full_manifest)
    assert out.ok, out.error_message
    assert out.result["kind"] == "number"
    assert out.result["rows"] == [[fixtures.TODAY + 1]]  # and the asking superuser, registered now


def test_six_digit_usernames_count_and_ids(seeded, full_manifest):
    code = (
        'users = AppUser.objects.filter(username__regex=r"^[0-9]{6}$")\n'
        'result = users.order_by("date_joined").values_list("id", flat=True)'
    )
    out = run(code, full_manifest)
    assert out.ok, out.error_message
    assert out.result["total"] == fixtures.SIX_DIGIT
    assert out.result["columns"] == ["id"]
    assert len(out.result["rows"]) == fixtures.SIX_DIGIT


def test_avatar_percentages_sum_to_100(seeded, full_manifest):
    code = """
has_avatar = ~Q(avatar="") & Q(avatar__isnull=False)
stats = AppUser.objects.aggregate(total=Count("id"), with_avatar=Count("id", filter=has_avatar))
without = stats["total"] - stats["with_avatar"]
result = {
    "with_avatar": stats["with_avatar"],
    "without_avatar": without,
    "with_avatar_pct": stats["with_avatar"] * 100.0 / stats["total"],
    "without_avatar_pct": without * 100.0 / stats["total"],
}
"""
    out = run(code, full_manifest)
    assert out.ok, out.error_message
    values = {row[0]: row[1] for row in out.result["rows"]}
    assert values["with_avatar"] + values["without_avatar"] == fixtures.USERS + 1  # and the superuser
    assert values["with_avatar_pct"] + values["without_avatar_pct"] == pytest.approx(100.0)


def test_a_large_result_is_capped_in_sql_and_says_so(seeded, full_manifest):
    out = run('result = LLMCall.objects.order_by("created_at").values("id", "purpose")', full_manifest)
    assert out.ok, out.error_message
    assert out.result["row_count"] == 100
    assert out.result["truncated"] is True
    assert out.result["total"] == fixtures.LLM_CALLS


def test_a_model_queryset_is_narrowed_to_the_manifest_columns(seeded, full_manifest):
    out = run('result = AppUser.objects.order_by("email")[:3]', full_manifest)
    assert out.ok, out.error_message
    assert "password" not in out.result["columns"]
    assert "email" in out.result["columns"]
    assert out.result["row_count"] == 3


def test_long_fields_are_truncated(seeded, full_manifest, settings):
    settings.ADMIN_ASSISTANT_MAX_FIELD_CHARS = 8
    out = run('result = AppUser.objects.order_by("email").values_list("email", flat=True)[:1]', full_manifest)
    assert out.ok
    assert out.result["rows"][0][0].endswith("…") and len(out.result["rows"][0][0]) == 8


def test_grouped_dates_chart_as_a_line(seeded, full_manifest):
    code = (
        'result = LLMCall.objects.annotate(day=TruncDate("created_at")).values("day")'
        '.annotate(calls=Count("id")).order_by("day")'
    )
    out = run(code, full_manifest)
    assert out.ok, out.error_message
    assert out.result["kind"] == "chart"
    assert out.result["chart"] == {"type": "line", "x": "day", "y": "calls"}


def test_grouped_labels_chart_as_bars(seeded, full_manifest):
    out = run('result = LLMCall.objects.values("purpose").annotate(n=Count("id")).order_by("purpose")', full_manifest)
    assert out.result["kind"] == "chart" and out.result["chart"]["type"] == "bar"
    assert sum(row[1] for row in out.result["rows"]) == fixtures.LLM_CALLS


def test_update_is_blocked_by_the_database_read_only_error(seeded, full_manifest):
    """With the validator bypassed, an UPDATE reaches the database and is refused there."""
    from django.db import connections

    from adminassistant.executor.runner import GuardError, guarded

    def write():
        with connections["default"].cursor() as cursor:
            cursor.execute("UPDATE appauth_appuser SET first_name = 'x'")

    with pytest.raises(GuardError) as caught:
        guarded(write)
    assert caught.value.code == "read_only_violation"
    assert "cannot execute UPDATE in a read-only transaction" in caught.value.message
