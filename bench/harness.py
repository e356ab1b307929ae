"""The benchmark harness: results, machine facts, BENCHMARKS.md."""

from __future__ import annotations

import os
import platform
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def set_environment(values: Mapping[str, str], *, also: tuple[str, ...] = ()) -> Callable[[], None]:
    """Put ``values`` into this process's environment (the settings re-read them), for the
    servers it starts and the data it encrypts; returns what puts the old values back, of
    those and of the variables in ``also`` that the caller sets later."""
    from tracker.settings import get_settings

    saved = {k: os.environ.get(k) for k in (*values, *also)}
    os.environ.update(values)
    get_settings.cache_clear()

    def restore() -> None:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()

    return restore


@dataclass
class Result:
    figure: str  # what was measured, e.g. "sweep, 1M cases, PostgreSQL"
    value: float
    unit: str  # "s", "ms", "/s", ...
    baseline: float | None = None  # the same measure of the reference, in the same run
    baseline_label: str = ""
    target: str = ""  # e.g. "< 1 s"
    met: bool | None = None
    notes: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.value == 0:
            return None
        # Ratios read "how many times better than the baseline": for times, baseline/value.
        if self.unit in ("s", "ms", "µs"):
            return self.baseline / self.value
        return self.value / self.baseline if self.baseline else None


QUICK_BUDGET_SECONDS = 120.0


@dataclass
class Context:
    quick: bool
    postgres_url: str | None
    workdir: Path
    extra: dict[str, str] = field(default_factory=dict)
    # The whole run's time budget (quick mode: 2 minutes) and when it started: modules with
    # optional extra work may check ``remaining()`` and skip it, saying so in their notes.
    budget_seconds: float | None = None
    started: float = field(default_factory=time.monotonic)

    def remaining(self) -> float:
        if self.budget_seconds is None:
            return float("inf")
        return self.budget_seconds - (time.monotonic() - self.started)


@dataclass
class Section:
    name: str
    results: list[Result]
    text: str = ""  # free text (query plans, notes) shown under the table


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> str:
    return (
        f"{os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


@contextmanager
def timer() -> Iterator[Callable[[], float]]:
    start = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - start
    end.append(time.perf_counter())


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if value == int(value) and abs(value) < 1e15:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.4f}"


def fmt_ratio(ratio: float) -> str:
    # Two significant digits at any scale: 0.0047× says more than 0.0×.
    return f"{ratio:.1f}" if ratio >= 1 else f"{ratio:.2g}"


def render(sections: list[Section], quick: bool) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmarks",
        "",
        f"Latest run: {now}{' (quick mode)' if quick else ''}.  ",
        f"Machine: {machine()}.  ",
        "Run with `make bench` (full) or `make bench BENCH_ARGS=--quick`. Ratios compare each",
        "figure with a baseline measured in the same process and run: for times,",
        "baseline ÷ value; for rates, value ÷ baseline (higher is better either way).",
        "",
    ]
    for section in sections:
        lines += [f"## {section.name}", ""]
        if section.results:
            lines += [
                "| figure | value | baseline | ratio | target | met | notes |",
                "|---|---|---|---|---|---|---|",
            ]
            for r in section.results:
                base = f"{_fmt(r.baseline)} {r.unit} ({r.baseline_label})" if r.baseline else "—"
                met = "—" if r.met is None else ("yes" if r.met else "**no**")
                ratio = f"{fmt_ratio(r.ratio)}×" if r.ratio is not None else "—"
                lines.append(
                    f"| {r.figure} | {_fmt(r.value)} {r.unit} | {base} | {ratio} | "
                    f"{r.target or '—'} | {met} | {r.notes} |"
                )
            lines.append("")
        if section.text:
            lines += [section.text.rstrip(), ""]
    return "\n".join(lines)


SUMMARY_TITLE = "Targets: met and missed"
_ROW = re.compile(r"^\| (?P<figure>.*?) \| (?P<value>.*?) \| .*? \| .*? \| (?P<target>.*?) \| "
                  r"(?P<met>yes|\*\*no\*\*) \| .*\|$")  # fmt: skip


def with_summary(markdown: str) -> str:
    """Put (or refresh) a table of every figure with a target, right under the header.

    Built from the rendered tables themselves, so that a partial run (``--only``) that
    merged its sections into the file still summarises every section in it.
    """
    parts = re.split(r"(?m)^## ", markdown)
    header, sections = parts[0], [p for p in parts[1:] if not p.startswith(SUMMARY_TITLE)]
    met: list[str] = []
    missed: list[str] = []
    for part in sections:
        title = part.splitlines()[0].strip()
        for line in part.splitlines():
            m = _ROW.match(line)
            if m is None:
                continue
            row = f"| {title} | {m['figure']} | {m['value']} | {m['target']} |"
            (met if m["met"] == "yes" else missed).append(row)
    summary = [
        SUMMARY_TITLE,
        "",
        f"{len(met)} met, {len(missed)} missed.",
        "",
    ]
    if met or missed:
        summary += ["| section | figure | value | target | met |", "|---|---|---|---|---|"]
        summary += [r[:-1] + "| **no** |" for r in missed]
        summary += [r[:-1] + "| yes |" for r in met]
    return (
        header.rstrip()
        + "\n\n"
        + "".join("## " + p for p in ["\n".join(summary) + "\n\n", *sections])
    )


def write(sections: list[Section], quick: bool, path: Path | None = None) -> Path:
    path = path or ROOT / "BENCHMARKS.md"
    path.write_text(with_summary(render(sections, quick)))
    return path
