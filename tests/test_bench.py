"""The benchmark scripts run as the README says, `python -m bench.NAME` from the repository root: each is a module
of the `bench` package whose usage line says so, and measures under `__main__` only."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted(p.stem for p in (ROOT / "bench").glob("*.py") if not p.stem.startswith("_"))  # _x: shared helpers


def test_every_bench_script_is_a_module_with_its_usage_line() -> None:
    assert {"sampler", "train", "device", "browser", "memory"} <= set(SCRIPTS)
    for name in SCRIPTS:
        assert importlib.util.find_spec(f"bench.{name}") is not None, name
        tree = ast.parse((ROOT / "bench" / f"{name}.py").read_text())
        assert f"python -m bench.{name}" in (ast.get_docstring(tree) or ""), name
        assert any(isinstance(n, ast.If) and "__main__" in ast.unparse(n.test) for n in tree.body), name
