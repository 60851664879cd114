"""The suite never writes into the checkout: uploads go to a temporary media root per test."""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

REPO = Path(__file__).resolve().parents[2]


def test_uploads_go_to_the_tests_own_temporary_media_root(media_root):
    name = default_storage.save("avatars/isolation.txt", ContentFile(b"stored"))

    assert Path(settings.MEDIA_ROOT) == media_root
    assert not media_root.is_relative_to(REPO)
    assert (media_root / name).read_bytes() == b"stored"
    assert not (REPO / "media" / name).exists()


def test_processes_the_tests_start_inherit_a_temporary_media_root():
    assert not Path(os.environ["MEDIA_ROOT"]).is_relative_to(REPO)
