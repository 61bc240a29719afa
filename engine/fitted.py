"""The closed forms fitted once per task setting: the one source of fitted constants for every page,
every run's yardstick and every table (docs/science.md section 6).

A fit is made on `FIT_N` contexts drawn from a fixed key (so anyone can redo it), on the default grid,
then refined. It is stored as JSON (constants, axes, flags) beside a `.npy` of the loss grid (read
with `allow_pickle=False`). Shipped fits for the standard settings live in `pretrained/fits/`; any
other setting is fitted on first use and kept in `runs/.fits/` (in memory only when `KICL_READ_ONLY` is set).
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import jax
import numpy as np

from engine import fit
from engine.closed_form import METHODS, NAMES
from engine.runs import PRETRAINED_ROOT, USER_ROOT, read_json, read_only, write_atomic, write_json
from engine.tasks import Contexts, TaskConfig, sample_contexts

FIT_N = 10_000
FIT_SEED = 20_240_601  # the fit contexts' key; nothing else draws from it
VALLEY_TOLERANCE = 0.005  # grid points within 0.5% of the best loss form the valley
VALLEY_DECADES = 1.0  # ... and a valley spanning a decade of c_sigma or more is "flat"


def shipped_dir() -> Path:
    return PRETRAINED_ROOT / "fits"


def cache_dir() -> Path:
    return Path(os.environ.get("KICL_FIT_CACHE", USER_ROOT / ".fits"))


@dataclasses.dataclass(frozen=True)
class Fitted:
    """A closed form fitted for one task setting, with its whole loss landscape."""

    method: str
    d: int
    C: int
    n: int
    N: int
    best: dict[str, float]  # grid argmin
    loss: float
    refined: dict[str, float]  # the constants every page uses
    refined_loss: float
    axes: dict[str, np.ndarray]
    losses: np.ndarray
    on_edge: tuple[str, ...]

    @property
    def task(self) -> TaskConfig:
        return TaskConfig(self.d, self.C, self.n)

    @property
    def name(self) -> str:
        return NAMES[self.method]

    @property
    def valley(self) -> dict | None:
        """For eq. 1: where the landscape is a flat valley along c_sigma * c_eta = const (as at d = 10),
        {'product', 'decades', 'lo', 'hi'}: the pinned product, and the c_sigma range within
        VALLEY_TOLERANCE of the best loss. None where the optimum is a point."""
        if self.method not in ("adaptive", "adaptive_self_key"):
            return None
        cs, ce = np.meshgrid(self.axes["c_sigma"], self.axes["c_eta"], indexing="ij")
        ok = np.isfinite(self.losses) & (self.losses <= self.refined_loss + VALLEY_TOLERANCE * abs(self.refined_loss))
        if not ok.any():
            return None
        lo, hi = float(cs[ok].min()), float(cs[ok].max())
        decades = math.log10(hi / lo)
        if decades < VALLEY_DECADES:
            return None
        return {"product": float(np.exp(np.mean(np.log(cs[ok] * ce[ok])))), "decades": decades, "lo": lo, "hi": hi}

    def constants_text(self) -> str:
        """The constants as shown everywhere, with the grid-edge and valley warnings."""
        shown = ", ".join(f"{k} {v:.3g}" for k, v in self.refined.items())
        notes = []
        if self.on_edge:
            notes.append(f"{' and '.join(self.on_edge)} on the grid's edge: the optimum may lie beyond it")
        v = self.valley
        if v:
            notes.append(f"flat valley: c_sigma from {v['lo']:.2g} to {v['hi']:.2g} all within "
                         f"{100 * VALLEY_TOLERANCE:g}% of the best loss, c_sigma * c_eta ~ {v['product']:.3g} pinned")
        return shown + (f" ({'; '.join(notes)})" if notes else "")

    def to_json(self) -> dict:
        return {"method": self.method, "d": self.d, "C": self.C, "n": self.n, "N": self.N, "seed": FIT_SEED,
                "best": self.best, "loss": self.loss, "refined": self.refined, "refined_loss": self.refined_loss,
                "axes": {k: v.tolist() for k, v in self.axes.items()}, "on_edge": list(self.on_edge)}


def fit_contexts(task: TaskConfig, N: int = FIT_N) -> Contexts:
    """The contexts every fit of `task` is made on."""
    return sample_contexts(jax.random.key(FIT_SEED), task, int(N))


def _stem(method: str, task: TaskConfig, N: int) -> str:
    return f"{method}-d{task.d}-C{task.C}-n{task.n}-N{N}"


def _read(folder: Path, stem: str) -> Fitted | None:
    meta, grid = folder / f"{stem}.json", folder / f"{stem}.npy"
    if not (meta.is_file() and grid.is_file()):
        return None
    try:
        m = read_json(meta)
        losses = np.load(grid, allow_pickle=False)
        return Fitted(m["method"], m["d"], m["C"], m["n"], m["N"], m["best"], m["loss"], m["refined"],
                      m["refined_loss"], {k: np.asarray(v) for k, v in m["axes"].items()}, losses,
                      tuple(m["on_edge"]))
    except Exception:  # a damaged store entry is refitted, never trusted
        return None


def _write(folder: Path, stem: str, f: Fitted) -> None:
    write_atomic(folder / f"{stem}.npy", lambda fh: np.save(fh, f.losses.astype(np.float32), allow_pickle=False),
                 binary=True)
    write_json(folder / f"{stem}.json", f.to_json())  # last: its presence says the entry is whole


def from_result(res: fit.FitResult, task: TaskConfig, N: int) -> Fitted:
    """A fit made on `task`'s N fit contexts, in the store's form."""
    return Fitted(res.method, task.d, task.C, task.n, int(N), {k: float(v) for k, v in res.best.items()},
                  float(res.loss), {k: float(v) for k, v in res.refined.items()}, float(res.refined_loss),
                  {k: np.asarray(v, np.float64) for k, v in res.axes.items()}, np.asarray(res.losses, np.float32),
                  res.on_edge)


def compute(method: str, task: TaskConfig, N: int = FIT_N) -> Fitted:
    """Fit `method` for `task` on its fixed contexts (no store)."""
    return from_result(fit.fit_method(fit_contexts(task, N), method), task, N)


def lookup(method: str, task: TaskConfig, N: int) -> Fitted | None:
    """A stored fit (shipped, else cached), or None."""
    stem = _stem(method, task, int(N))
    for folder in (shipped_dir(), cache_dir()):
        got = _read(folder, stem)
        if got is not None:
            return got
    return None


def keep(f: Fitted) -> None:
    """Cache a fit just computed in runs/.fits; in read-only mode it stays in memory (the app's cache) only."""
    if read_only():
        return
    try:
        _write(cache_dir(), _stem(f.method, f.task, f.N), f)
    except OSError:  # a read-only checkout still works, it only refits next time
        pass


def fitted(method: str, task: TaskConfig, N: int = FIT_N) -> Fitted:
    """The stored fit of `method` for `task` (shipped, else cached, else computed and cached)."""
    if method not in METHODS:
        raise ValueError(f"unknown closed form {method!r}; choose one of {METHODS}")
    got = lookup(method, task, N)
    if got is None:
        got = compute(method, task, N)
        keep(got)
    return got


def ship(tasks: list[TaskConfig], folder: Path | None = None, N: int = FIT_N) -> list[Path]:
    """Fit every closed form for `tasks` into `folder` (default pretrained/fits): the shipped fits."""
    folder = shipped_dir() if folder is None else Path(folder)
    return [save(folder, compute(method, task, N)) for task in tasks for method in METHODS]


def save(folder: Path, f: Fitted) -> Path:
    """Write a fit into `folder` under its stem; returns its JSON's path."""
    stem = _stem(f.method, f.task, f.N)
    _write(Path(folder), stem, f)
    return Path(folder) / f"{stem}.json"
