"""Benchmarks: ``make bench`` (or ``python -m bench [--quick] [--only NAME]``).

Each module ``bench/bench_*.py`` exposes ``run(ctx: Context) -> list[Result]``. A result
carries its own baseline measured in the same process (same run, same machine), so the
ratio means something; the harness rewrites BENCHMARKS.md with every figure.
"""
