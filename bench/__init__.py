"""Benchmark scripts: `.venv/bin/python -m bench.NAME [options]` from the repository root (see README)."""
