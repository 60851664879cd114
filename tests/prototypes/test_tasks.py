"""The periodic task: sweeps stale generations, forgets old Idempotency-Keys, and is scheduled."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from prototypes.models import IdempotencyKey
from prototypes.tasks import sweep_stale_generations
from tests.prototypes.factories import VersionFactory

pytestmark = pytest.mark.django_db


def test_the_sweep_task_interrupts_stale_versions_and_purges_old_keys():
    stale = VersionFactory(status="streaming", heartbeat_at=timezone.now() - timedelta(hours=1))
    user = stale.variant.prototype.project.user
    old = IdempotencyKey.objects.create(user=user, key="old", request_hash="h", version=stale)
    IdempotencyKey.objects.filter(id=old.id).update(created_at=timezone.now() - timedelta(days=2))
    fresh = IdempotencyKey.objects.create(user=user, key="fresh", request_hash="h", version=stale)

    assert sweep_stale_generations.delay().get() == 1

    stale.refresh_from_db()
    assert stale.status == "interrupted"
    assert list(IdempotencyKey.objects.values_list("id", flat=True)) == [fresh.id]


def test_the_sweep_is_on_the_beat_schedule():
    entry = settings.CELERY_BEAT_SCHEDULE["prototypes-sweep-stale-generations"]

    assert entry["task"] == sweep_stale_generations.name
