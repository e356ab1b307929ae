"""``python -m bench [--quick] [--only NAME ...] [--no-write]``."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench.harness import QUICK_BUDGET_SECONDS, Context, Result, Section, fmt_ratio, write


def _modules() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="small sizes; under 2 minutes")
    parser.add_argument("--only", nargs="*", default=None, help="module names, e.g. bench_sweeps")
    parser.add_argument("--no-write", action="store_true", help="do not rewrite BENCHMARKS.md")
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        help=f"seconds for the whole run (quick mode: {QUICK_BUDGET_SECONDS:.0f})",
    )
    args = parser.parse_args(argv)
    budget = args.budget or (QUICK_BUDGET_SECONDS if args.quick else None)
    ctx = Context(
        quick=args.quick,
        postgres_url=os.environ.get("TEST_POSTGRES_URL")
        or "postgresql://postgres@127.0.0.1:5432/postgres",
        workdir=Path(tempfile.mkdtemp(prefix="amparo-bench-")),
        budget_seconds=budget,
    )
    sections: list[Section] = []
    timings: list[Result] = []
    failed = False
    for name in _modules():
        if args.only and name not in args.only:
            continue
        print(f"== {name}", flush=True)
        started = time.monotonic()
        try:
            module = importlib.import_module(f"bench.{name}")
            produced = module.run(ctx)
        except Exception:  # one failing benchmark must not hide the others' figures
            traceback.print_exc()
            failed = True
            produced = [Section(name, [], text=f"**{name} failed in this run.**")]
        elapsed = time.monotonic() - started
        timings.append(Result(figure=name, value=elapsed, unit="s"))
        print(f"   ({elapsed:.1f} s)", flush=True)
        sections.extend(produced)
        for section in produced:
            for r in section.results:
                ratio = f" ratio {fmt_ratio(r.ratio)}x" if r.ratio is not None else ""
                met = "" if r.met is None else (" [met]" if r.met else " [NOT met]")
                notes = f" — {r.notes}" if r.notes else ""
                print(f"   {r.figure}: {r.value:.4g} {r.unit}{ratio}{met}{notes}", flush=True)
            if not section.results and section.text:
                print(f"   {section.name}: {section.text.splitlines()[0]}", flush=True)
    total = time.monotonic() - ctx.started
    over_by = total - budget if budget is not None else 0.0
    over = over_by > 0
    timings.append(
        Result(
            figure="whole run" + (" (quick)" if args.quick else ""),
            value=total,
            unit="s",
            target=f"< {budget:.0f} s" if budget else "",
            met=(not over) if budget else None,
        )
    )
    print(f"== total {total:.1f} s" + (f" (budget {budget:.0f} s)" if budget else ""))
    if over:
        # The quick run is CI's smoke test: a benchmark that outgrows it must be noticed.
        print(f"!! over budget by {over_by:.1f} s", file=sys.stderr)
        failed = True
    sections.insert(
        0,
        Section(
            "Run time",
            timings,
            text="Each module's wall time in this run"
            + (f" (partial run: {', '.join(args.only)})." if args.only else "."),
        ),
    )
    if not args.no_write and not args.only:
        print(f"wrote {write(sections, args.quick)}")
    elif not args.no_write and args.only:
        # A partial run updates only its own sections, keeping the others' last figures.
        from bench.merge import merge_sections

        print(f"updated {merge_sections(sections, args.quick)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
