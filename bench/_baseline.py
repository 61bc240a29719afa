"""A module as it was at an earlier git revision, for benchmarks that time the current code against it in one
process (same machine state, same JAX, same warm caches)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
import types
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def module_at(rev: str, path: str) -> types.ModuleType:
    """The module file `path` (relative to the repository) at revision `rev`, imported under a private name.
    Its own imports resolve to the current tree, which suits modules whose interfaces have not changed."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{path}"], capture_output=True, text=True,
                            check=True).stdout
    name = f"_baseline_{rev}_{path.replace('/', '_').removesuffix('.py')}"
    module = types.ModuleType(name)
    module.__file__ = f"{rev}:{path}"
    sys.modules[name] = module  # dataclasses look their module up while the class body runs
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module


@contextlib.contextmanager
def checkouts(rev: str | None) -> Iterator[list[tuple[str, Path]]]:
    """[(label, root)]: this checkout, and with `rev` that revision's whole app in a temporary git worktree
    (removed on exit), for benchmarks that serve both apps the same way in one run."""
    roots = [("this checkout", ROOT)]
    tmp = None
    if rev:
        tmp = Path(tempfile.mkdtemp(prefix="bench-baseline-")) / "app"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(tmp), rev], check=True)
        roots.append((f"baseline {rev}", tmp))
    try:
        yield roots
    finally:
        if tmp is not None:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tmp)], check=False)
