"""The committed catalogues are complete and their compiled .mo files match the .po sources."""

from __future__ import annotations

from pathlib import Path

import polib
import pytest

LOCALE = Path(__file__).resolve().parents[2] / "sitehelp" / "locale"


@pytest.mark.parametrize("language", ["de", "fr"])
def test_every_string_is_translated_and_compiled(language):
    po = polib.pofile(str(LOCALE / language / "LC_MESSAGES" / "django.po"))
    mo = polib.mofile(str(LOCALE / language / "LC_MESSAGES" / "django.mo"))

    assert po.percent_translated() == 100
    assert not [entry.msgid for entry in po if "fuzzy" in entry.flags]
    assert {e.msgid: e.msgstr for e in po.translated_entries()} == {e.msgid: e.msgstr for e in mo if e.msgid}
