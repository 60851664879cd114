"""The README documents every environment variable the settings read, and the make targets."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def test_every_environment_variable_is_documented():
    settings = (REPO / "aiassistant" / "settings.py").read_text()
    names = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]+)"', settings))
    names |= set(re.findall(r'^\s+"(AWS_[A-Z_]+)",$', settings, flags=re.MULTILINE))

    missing = sorted(name for name in names if f"`{name}`" not in README)

    assert not missing, f"README does not document: {missing}"


def test_every_make_target_is_documented():
    makefile = (REPO / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]+):.*## ", makefile, flags=re.MULTILINE))

    missing = sorted(target for target in targets if f"`make {target}`" not in README)

    assert not missing, f"README does not document: {missing}"


def test_the_two_commands_come_first():
    first_section = README.split("## Architecture")[0]

    assert "make run" in first_section
    assert "make test" in first_section
