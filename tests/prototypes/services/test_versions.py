"""Version services without a model: numbering, finishing once, the sweeper, reverting what has no page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from backend import errors
from backend.streaming.engine import Outcome
from prototypes.models import PrototypeVersion
from prototypes.services.generation import engine
from prototypes.services.versions import version_create, version_revert
from tests.prototypes.factories import PAGE, VersionFactory

pytestmark = pytest.mark.django_db


def test_an_edit_gets_the_next_number_and_starts_from_the_latest_complete_version():
    v1 = VersionFactory(version_number=1)
    VersionFactory(variant=v1.variant, version_number=2, status="incomplete", html_content="<p>half")
    user = v1.variant.prototype.project.user

    accepted = version_create(user=user, variant_id=v1.variant_id, prompt="Bigger title")

    assert accepted.version.version_number == 3
    assert accepted.version.status == "streaming"
    assert accepted.base_html == PAGE  # never the incomplete page
    assert accepted.request.alias == "prototype"
    assert accepted.request.context.purpose == "prototype"


def test_a_version_is_finished_once():
    version = VersionFactory(status="streaming", html_content="")

    first = engine.finish(
        record_id=version.id, outcome=Outcome(status="complete", fields={"html_content": PAGE}), text="x"
    )
    second = engine.finish(record_id=version.id, outcome=Outcome(status="error"), text="y")

    assert first is None  # written
    assert second is not None and second.text == "x"  # already terminal: the stored state, unchanged
    version.refresh_from_db()
    assert (version.status, version.raw_output, version.html_content) == ("complete", "x", PAGE)


def test_the_sweeper_interrupts_versions_whose_generation_stopped_heart_beating():
    stale = VersionFactory(status="streaming", raw_output="partial", heartbeat_at=timezone.now() - timedelta(hours=1))
    alive = VersionFactory(status="streaming", heartbeat_at=timezone.now())

    assert engine.sweep() == 1

    stale.refresh_from_db()
    alive.refresh_from_db()
    assert (stale.status, stale.raw_output, stale.error_code) == ("interrupted", "partial", "interrupted")
    assert alive.status == "streaming"


def test_a_version_without_a_page_cannot_be_restored():
    failed = VersionFactory(status="error", html_content="")

    with pytest.raises(errors.Conflict):
        version_revert(user=failed.variant.prototype.project.user, version_id=failed.id)
    assert PrototypeVersion.objects.count() == 1
