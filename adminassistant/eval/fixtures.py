"""A small, deterministic data set the acceptance tests and the evaluation questions run over.

Users (some with six-digit usernames, some registered today, some with an avatar, some staff),
groups, and model-call ledger rows (purposes, models, tokens, costs over the last weeks).
Dates are relative to the moment of seeding, so "today" questions have answers.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from backend.llm.models import LLMCall

USERS = 40
SIX_DIGIT = 12
TODAY = 5
WITH_AVATAR = 14
STAFF = 3
LLM_CALLS = 150  # more than the 100-row cap: a listing of them is truncated


def seed() -> None:
    """Create the fixture rows (idempotent: returns at once when they exist)."""
    user_model = get_user_model()
    if user_model.objects.filter(email="fixture0@example.com").exists():
        return
    now = timezone.now()
    start_of_today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    editors, _ = Group.objects.get_or_create(name="Editors")
    support, _ = Group.objects.get_or_create(name="Support")
    users = []
    for i in range(USERS):
        username = f"{100000 + i * 7919 % 900000:06d}" if i < SIX_DIGIT else f"member{i:02d}"
        if i < TODAY:
            joined = start_of_today + datetime.timedelta(minutes=10 + i)
            joined = min(joined, now)
        else:
            joined = start_of_today - datetime.timedelta(days=1 + (i * 3) % 60, hours=i % 7)
        user = user_model(
            username=username,
            email=f"fixture{i}@example.com",
            first_name=["Ada", "Grace", "Alan", "Edsger", "Barbara"][i % 5],
            last_name=["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov"][(i // 5) % 5],
            is_staff=i < STAFF,
            is_active=i % 13 != 7,
            email_verified=i % 2 == 0,
            date_joined=joined,
        )
        user.set_unusable_password()
        if WITH_AVATAR > 0 and i % 40 < WITH_AVATAR and i >= 3:
            user.avatar = f"avatars/fixture{i}.png"
        users.append(user)
    user_model.objects.bulk_create(users)
    for i, user in enumerate(users):
        if i % 4 == 0:
            user.groups.add(editors)
        if i % 6 == 0:
            user.groups.add(support)
    calls = []
    purposes = ["chat", "title", "memory", "prototype"]
    models = ["us.anthropic.claude-sonnet-4-6", "us.anthropic.claude-haiku-4-5-20251001-v1:0"]
    for i in range(LLM_CALLS):
        calls.append(
            LLMCall(
                user=users[i % USERS],
                purpose=purposes[i % 4],
                alias="chat-default" if i % 2 == 0 else "fast",
                model_id=models[i % 2],
                status="ok" if i % 10 else "error",
                input_tokens=100 + (i * 37) % 900,
                output_tokens=20 + (i * 53) % 400,
                latency_ms=200 + (i * 71) % 3000,
                cost=Decimal(i % 17) / Decimal(1000),
            )
        )
    LLMCall.objects.bulk_create(calls)
    for i, call in enumerate(calls):  # auto_now_add: spread the dates afterwards
        LLMCall.objects.filter(id=call.id).update(created_at=now - datetime.timedelta(days=i % 21, minutes=i))
