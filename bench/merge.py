"""Update BENCHMARKS.md section by section, so partial runs keep other figures."""

from __future__ import annotations

import re
from pathlib import Path

from bench.harness import ROOT, Section, render, with_summary


def merge_sections(sections: list[Section], quick: bool, path: Path | None = None) -> Path:
    path = path or ROOT / "BENCHMARKS.md"
    fresh = render(sections, quick)
    if not path.exists():
        path.write_text(with_summary(fresh))
        return path
    old = path.read_text()
    header, _, _ = fresh.partition("\n## ")
    old_parts = re.split(r"(?m)^## ", old)
    new_parts = re.split(r"(?m)^## ", fresh)[1:]
    by_title = {p.splitlines()[0]: p for p in old_parts[1:]}
    for part in new_parts:
        by_title[part.splitlines()[0]] = part
    # Each section ends with one blank line, whichever run wrote it.
    merged = (
        header.rstrip() + "\n\n" + "".join("## " + p.rstrip() + "\n\n" for p in by_title.values())
    )
    path.write_text(with_summary(merged))
    return path
