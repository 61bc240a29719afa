"""The paper's title claim in one table: on the same held-out contexts, the cross-entropy of trained linear
SA, trained softmax SA, GD (eq. 2), kernel GD (eq. 3) and eq. 1, for every d of the shipped runs.

The closed forms sit at their stored fits (`engine.fitted`, made on other contexts); the trained layers are
the shipped `fast-*` runs. Softmax attention can represent eq. 1 and linear attention only GD, so softmax
should win; the margin shrinks as d grows (at d = 10 eq. 1's optimum is its GD limit).

    python -m engine.headline [--out pretrained/headline.csv] [--contexts 4000]
"""

from __future__ import annotations

import csv
from pathlib import Path

import jax

from engine import fitted, metrics, models
from engine.fit import closed_form_fn
from engine.runs import PRETRAINED_ROOT, load_run
from engine.tasks import TaskConfig, sample_contexts

HELD_OUT_SEED = 20_250_417  # the held-out contexts' key: no fit, run or page draws from it
DIMS = (2, 3, 5, 10)
COLUMNS = ["d", "learner", "kind", "loss", "accuracy", "contexts"]
LEARNERS = {"linear SA (trained)": "linear", "softmax SA (trained)": "softmax", "GD (eq. 2)": "gd",
            "kernel GD (eq. 3)": "kernel_gd", "eq. 1": "adaptive"}


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


def write(path: Path, table: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(table)


if __name__ == "__main__":
    import sys

    from engine.cli import headline_main

    sys.exit(headline_main())
