"""The hand-written statements of the hot paths also run on the embedded SQLite default (`make run`).

The test suite runs on PostgreSQL; these statements bind parameters and build JSON themselves,
so they are run here once on a migrated SQLite file: the token memo's guard (on its own and in
the running-answers count) and memory recall with its tag names.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import django
    django.setup()
    from django.core.management import call_command
    call_command("migrate", verbosity=0)
    from django.db import connection
    from appauth import token_cache
    from appauth.models import AuthToken
    from appauth.services.audit import ClientInfo
    from appauth.services.tokens import token_create
    from backend.db import GuardFailed, guard_holds
    from chat.selectors.memory import memories_in_scope
    from chat.services.generation import ChatAdapter
    from chat.services.memory import memory_create
    from tests.factories import UserFactory

    print("vendor", connection.vendor)
    user = UserFactory()
    auth_token, _ = token_create(user=user, client=ClientInfo(ip="127.0.0.1", user_agent="probe"))
    guard = token_cache.guard(auth_token)
    from decimal import Decimal

    from backend.llm.models import UserBudget

    print("holds", guard_holds(guard), "count", ChatAdapter().running_count(user=user, guard=guard)[0])
    UserBudget.objects.create(user=user, monthly_token_limit=500, monthly_cost_limit_usd=Decimal("12.50"))
    print("limits", ChatAdapter().running_count(user=user)[1])
    memory_create(user=user, summary="Likes tea", tags=["tea", "drinks"])
    memory_create(user=user, summary="Lives in Berlin")
    found = memories_in_scope(user_id=user.id, project_id=None, if_enabled=True)
    print("tags", sorted(memory.__dict__["tag_names"] for memory in found))
    AuthToken.objects.filter(pk=auth_token.pk).delete()
    try:
        ChatAdapter().running_count(user=user, guard=guard)
    except GuardFailed:
        print("revoked", guard_holds(guard))
    """
)


def test_the_guard_and_memory_recall_statements_run_on_sqlite(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "aiassistant.settings",
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'probe.sqlite3'}",
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert "vendor sqlite" in lines
    assert "holds True count 0" in lines
    assert "limits BudgetLimits(tokens=500, usd=Decimal('12.5'))" in lines
    assert "tags [(), ('drinks', 'tea')]" in lines
    assert "revoked False" in lines
