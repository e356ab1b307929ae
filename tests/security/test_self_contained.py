"""A clone needs nothing beside it: no source, test, script or document reaches outside the tree."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = [
    "tracker",
    "jobs",
    "notifications",
    "tests",
    "bench",
    "scripts",
    "docs",
    "alembic",
    ".ci",
]
TOP_FILES = [
    "Makefile",
    "README.md",
    "RELIABILITY.md",
    "BENCHMARKS.md",
    "Procfile",
    "pyproject.toml",
]
SUFFIXES = {".py", ".md", ".sh", ".toml", ".cfg", ".ini", ".json", ".txt", ""}

# Paths that leave the repository: a sibling "shared" folder, the old domain notes and letters.
OUTSIDE = re.compile(
    r"\.\./shared|parent\s*/\s*[\"']shared[\"']|parents\[\d\]\s*/\s*[\"']shared[\"']"
    r"|shared/(domain\.md|twilio|seeds)|(?<![\w/])seeds/"
)
DOC_REFERENCE = re.compile(r"\bdocs/[\w./-]+\.md\b")


def _files() -> list[Path]:
    found = [ROOT / name for name in TOP_FILES if (ROOT / name).exists()]
    for folder in SCANNED:
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in SUFFIXES and "__pycache__" not in path.parts:
                found.append(path)
    return found


def test_nothing_points_outside_the_repository() -> None:
    me = Path(__file__).resolve()
    offenders = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in _files()
        if path.resolve() != me
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert offenders == []


def test_every_docs_page_referenced_exists() -> None:
    missing = {
        f"{path.relative_to(ROOT)} -> {ref}"
        for path in _files()
        for ref in DOC_REFERENCE.findall(path.read_text(errors="replace"))
        if not (ROOT / ref).exists()
    }
    assert missing == set()
    assert (ROOT / "docs" / "domain.md").exists()
