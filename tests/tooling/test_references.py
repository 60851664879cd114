"""Documents and code point only at files that are in the repository."""

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def tracked(*patterns: str) -> list[Path]:
    out = subprocess.run(["git", "ls-files", *patterns], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return [REPO / line for line in out.splitlines() if (REPO / line).is_file()]


def test_relative_markdown_links_resolve():
    broken = []
    for document in tracked("*.md"):
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", document.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (document.parent / target).exists():
                broken.append(f"{document.relative_to(REPO)} -> {target}")

    assert not broken


def test_no_reference_to_notes_outside_the_repository():
    pattern = re.compile(r"\bresearch/[\w-]+\.md|\bseeds/|\bSTYLE\.md")
    found = [
        f"{path.relative_to(REPO)}:{number}"
        for path in tracked("*.py", "*.md", "*.txt", "Makefile")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]

    assert not found
