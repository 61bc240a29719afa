"""The run folders the app may read: `pretrained/` (shipped) and `runs/` (the visitor's own), and no
other path, whatever string a page or a URL hands in. Streamlit-free; tests point the two roots at
temporary folders."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from engine.config import TrainConfig
from engine.runs import PRETRAINED_ROOT, USER_ROOT, RunError, list_runs

PRETRAINED = PRETRAINED_ROOT  # the two roots, as names tests can point elsewhere (monkeypatch)
USER_RUNS = USER_ROOT
REQUIRED = ("kind", "d", "C", "n")  # what a listed run's config.json must name (a TrainConfig defaults the rest)


@dataclasses.dataclass(frozen=True)
class RunEntry:
    """A run folder as listed on the pages: where it lives, and its config or why it cannot be read."""

    name: str
    path: str
    origin: str  # "pretrained" | "runs"
    config: TrainConfig | None
    status: str
    error: str = ""
    converged: bool = False
    step: int = 0

    @property
    def query_in_keys(self) -> bool:
        """As the run was trained (`TrainConfig.from_dict` reads a run saved before the option as True)."""
        return self.config is not None and self.config.query_in_keys

    @property
    def variant(self) -> str:
        return self.config.variant if self.config is not None else "?"

    @property
    def label(self) -> str:
        if self.config is None:
            return f"{self.origin}/{self.name} (unreadable)"
        c = self.config
        status = f"running, step {self.step:,}" if self.status == "running" else self.status
        return f"{self.origin}/{self.name}: {self.variant} d={c.d} C={c.C} n={c.n} [{status}]"


def stamp(path: Path) -> float:
    """Changes whenever a run writes (status and history are rewritten after every chunk)."""
    return max((p.stat().st_mtime for p in (path / "status.json", path / "history.json", path / "config.json")
                if p.exists()), default=0.0)


def roots_stamp() -> tuple[float, ...]:
    """Changes whenever anything a shipped view reads may have changed: a run written under either root, or a file
    added, removed or replaced (written atomically) in `pretrained/`, its `fits/` or `sweeps/`. File times only,
    no JSON read: cheap enough for every rerun."""
    dirs = (PRETRAINED, PRETRAINED / "fits", PRETRAINED / "sweeps", USER_RUNS)
    return (*(d.stat().st_mtime if d.is_dir() else 0.0 for d in dirs),
            *(stamp(p) for root in (PRETRAINED, USER_RUNS) for p in list_runs(root)))


def entries() -> list[RunEntry]:
    """Every run folder under the two roots. Not cached: a directory listing and two small JSON files per
    run, and a run started on the Train page must show up on the next rerun of any page."""
    out = []
    for origin, root in (("pretrained", PRETRAINED), ("runs", USER_RUNS)):
        for path in list_runs(root):
            if path.resolve().parent != root.resolve():  # a link out of the root: not read, not listed
                continue
            try:
                out.append(_entry(path, origin))
            except (OSError, ValueError, TypeError) as e:
                out.append(RunEntry(path.name, str(path), origin, None, "unreadable", f"{type(e).__name__}: {e}"))
    return sorted(out, key=lambda e: (e.origin != "pretrained", e.config is None, e.name))


def _entry(path: Path, origin: str) -> RunEntry:
    """One listed run; ValueError or TypeError when its files are not what a run writes."""
    raw = json.loads((path / "config.json").read_text())
    if not isinstance(raw, dict) or any(k not in raw for k in REQUIRED):
        raise ValueError(f"config.json does not name the run's {', '.join(REQUIRED)}")
    config = TrainConfig.from_dict(raw)
    status_file = path / "status.json"
    status = json.loads(status_file.read_text()) if status_file.exists() else {}
    if not isinstance(status, dict) or not isinstance(status.get("verdict", {}), dict):
        raise ValueError("status.json is not a run's status")
    verdict = status.get("verdict", {})
    return RunEntry(path.name, str(path), origin, config, str(status.get("status", "unknown")),
                    converged=bool(verdict.get("converged")), step=int(verdict.get("step", 0)))


def allowed(path: str | Path) -> Path:
    """The folder, if it is a run folder directly under one of the two roots; RunError otherwise."""
    p = Path(path).resolve()
    if p.parent not in (PRETRAINED.resolve(), USER_RUNS.resolve()):
        raise RunError(f"{p.name}: runs are read only from pretrained/ and runs/")
    return p


def by_name(name: str) -> RunEntry | None:
    """The entry a URL's `run=` names ("pretrained/fast-softmax-d3", or a bare folder name)."""
    for e in entries():
        if name in (e.name, f"{e.origin}/{e.name}"):
            return e
    return None


def matching(kind: str, d: int, C: int, n: int | None = None, query_in_keys: bool | None = None) -> list[RunEntry]:
    """Runs of a model kind at (d, C), best first: pretrained before user runs, converged before the rest,
    finished before stopped, the same n and variant before others."""
    cands = [e for e in entries() if e.config and e.config.kind == kind and e.config.d == d
             and e.config.C == C and e.status in ("finished", "stopped")]

    def rank(e: RunEntry):
        other_variant = query_in_keys is not None and e.query_in_keys != query_in_keys
        return (e.origin != "pretrained", not e.converged, e.status != "finished",
                n is not None and e.config.n != n, other_variant, e.name)

    return sorted(cands, key=rank)


def best_of(ranked: list[RunEntry]) -> RunEntry | None:
    """The run shown by default among `matching`'s list: the first if it is pretrained or converged, else none
    (an unconverged run of one's own is offered, not imposed)."""
    return ranked[0] if ranked and (ranked[0].origin == "pretrained" or ranked[0].converged) else None


def pick(kind: str, d: int, C: int, n: int | None = None, query_in_keys: bool | None = False) -> RunEntry | None:
    """`best_of` the runs matching a setting."""
    return best_of(matching(kind, d, C, n, query_in_keys))
