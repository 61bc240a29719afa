"""The paper's title claim in one table: on the same held-out contexts, the cross-entropy of trained linear
SA, trained softmax SA, GD (eq. 2), kernel GD (eq. 3) and eq. 1, for every d of the shipped runs.

The closed forms sit at their stored fits (`engine.fitted`, made on other contexts); the trained layers are
the shipped `fast-*` runs. Softmax attention can represent eq. 1 and linear attention only GD, so softmax
may do better; how much better, by d, is what the table measures (`verdict` says it in words).

    python -m engine headline [--out pretrained/headline.csv] [--contexts 4000]
"""

from __future__ import annotations

import csv
from pathlib import Path

import jax

from engine import fitted, metrics, models
from engine.closed_form import NAMES
from engine.fit import closed_form_fn
from engine.runs import PRETRAINED_ROOT, load_run
from engine.tasks import TaskConfig, sample_contexts

HELD_OUT_SEED = 20_250_417  # the held-out contexts' key: no fit, run or page draws from it
DIMS = (2, 3, 5, 10)
COLUMNS = ["d", "learner", "kind", "loss", "accuracy", "contexts"]
LEARNERS = {"linear SA (trained)": "linear", "softmax SA (trained)": "softmax",
            **{NAMES[m]: m for m in ("gd", "kernel_gd", "adaptive")}}  # the closed forms under their one name


def held_out(task: TaskConfig, N: int):
    return sample_contexts(jax.random.fold_in(jax.random.key(HELD_OUT_SEED), task.d), task, N)


def rows(root: Path = PRETRAINED_ROOT, N: int = 4000, dims=DIMS, C: int = 5, n: int = 100) -> list[dict]:
    """One row per (d, learner): mean cross-entropy and accuracy on N held-out contexts. A d whose run is
    missing keeps its closed forms."""
    out = []
    for d in dims:
        task = TaskConfig(d, C, n)
        ctx = held_out(task, N)
        for label, what in LEARNERS.items():
            if what in ("linear", "softmax"):
                path = root / f"fast-{what}-d{d}"
                if not (path / "config.json").is_file():
                    continue
                run = load_run(path)
                params = {k: jax.numpy.asarray(v) for k, v in run.params.items()}
                logits = models.logits(params, ctx, what, query_in_keys=run.config.query_in_keys)
                kind = "trained layer"
            else:
                logits = closed_form_fn(what, fitted.fitted(what, task).refined)(ctx)
                kind = "closed form"
            m = metrics.per_context(logits, ctx.yq)
            out.append({"d": d, "learner": label, "kind": kind, "loss": float(m["loss"].mean()),
                        "accuracy": float(m["correct"].mean()), "contexts": N})
    return out


SMALL_GAP = 0.01  # cross-entropy: below this, one trained run per d does not tell the layers apart


def gaps(table) -> dict[int, float]:
    """Per d, the trained softmax layer's held-out cross-entropy minus the trained linear layer's (negative:
    softmax lower), for the d that have both."""
    loss = {(int(r["d"]), r["learner"]): float(r["loss"]) for r in _records(table)}
    return {d: loss[(d, "softmax SA (trained)")] - loss[(d, "linear SA (trained)")]
            for d in sorted({d for d, _ in loss}) if (d, "softmax SA (trained)") in loss
            and (d, "linear SA (trained)") in loss}


def verdict(table) -> str:
    """What the table shows of softmax against linear attention, in words that claim no more than one run per
    d can: clear gaps named as such, small ones (under SMALL_GAP) said to be within what a seed could move."""
    g = gaps(table)
    clear = [f"{-v:.3f} at d = {d}" for d, v in g.items() if v <= -SMALL_GAP]
    worse = [f"{v:.3f} at d = {d}" for d, v in g.items() if v >= SMALL_GAP]
    small = [f"d = {d} ({'+' if v > 0 else '-'}{abs(v):.3f})" for d, v in g.items() if abs(v) < SMALL_GAP]
    out = []
    if clear:
        out.append("The trained softmax layer's cross-entropy is lower than the linear layer's by "
                   + " and ".join(clear) + ".")
    if worse:
        out.append("It is higher by " + " and ".join(worse) + ".")
    if small:
        out.append("At " + " and ".join(small) + " the two differ by less than " + f"{SMALL_GAP}: one trained run "
                   "per d, so a gap this small is not evidence either way.")
    return " ".join(out)


def _records(table) -> list[dict]:
    return table.to_dict("records") if hasattr(table, "to_dict") else list(table)


def write(path: Path, table: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(table)
