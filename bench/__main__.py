"""``python -m bench [--quick] [--only NAME ...] [--no-write]``."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import tempfile
import traceback
from pathlib import Path

from bench.harness import Context, Section, write


def _modules() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="small sizes; under 2 minutes")
    parser.add_argument("--only", nargs="*", default=None, help="module names, e.g. bench_sweeps")
    parser.add_argument("--no-write", action="store_true", help="do not rewrite BENCHMARKS.md")
    args = parser.parse_args(argv)
    ctx = Context(
        quick=args.quick,
        postgres_url=os.environ.get("TEST_POSTGRES_URL")
        or "postgresql://postgres@127.0.0.1:5432/postgres",
        workdir=Path(tempfile.mkdtemp(prefix="amparo-bench-")),
    )
    sections: list[Section] = []
    failed = False
    for name in _modules():
        if args.only and name not in args.only:
            continue
        print(f"== {name}", flush=True)
        module = importlib.import_module(f"bench.{name}")
        try:
            produced = module.run(ctx)
        except Exception:  # one failing benchmark must not hide the others' figures
            traceback.print_exc()
            failed = True
            sections.append(Section(name, [], text=f"**{name} failed in this run.**"))
            continue
        sections.extend(produced)
        for section in produced:
            for r in section.results:
                ratio = f" ratio {r.ratio:.1f}x" if r.ratio is not None else ""
                print(f"   {r.figure}: {r.value:.4g} {r.unit}{ratio}", flush=True)
    if not args.no_write and not args.only:
        print(f"wrote {write(sections, args.quick)}")
    elif not args.no_write and args.only:
        # A partial run updates only its own sections, keeping the others' last figures.
        from bench.merge import merge_sections

        print(f"updated {merge_sections(sections, args.quick)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
