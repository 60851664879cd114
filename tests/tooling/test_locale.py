"""Every committed catalogue (German, French) is complete and its compiled .mo matches the .po."""

from __future__ import annotations

from pathlib import Path

import polib
import pytest

REPO = Path(__file__).resolve().parents[2]
CATALOGUES = sorted(path for path in REPO.glob("*/locale/*/LC_MESSAGES/django.po") if ".venv" not in path.parts)


def test_the_apps_with_user_facing_text_have_german_and_french_catalogues():
    found = {(path.parts[-5], path.parts[-3]) for path in CATALOGUES}

    for app in ("appauth", "chat", "sitehelp", "adminassistant"):
        assert {(app, "de"), (app, "fr")} <= found


@pytest.mark.parametrize("po_path", CATALOGUES, ids=lambda path: f"{path.parts[-5]}-{path.parts[-3]}")
def test_every_string_is_translated_and_compiled(po_path):
    po = polib.pofile(str(po_path))
    mo = polib.mofile(str(po_path.with_suffix(".mo")))

    assert po.percent_translated() == 100
    assert not [entry.msgid for entry in po if "fuzzy" in entry.flags]
    assert {e.msgid: e.msgstr for e in po.translated_entries()} == {e.msgid: e.msgstr for e in mo if e.msgid}
