"""Benchmarks: run with ``nox -s bench`` (or ``python -m benchmarks``). Bounded; they stop alone."""
