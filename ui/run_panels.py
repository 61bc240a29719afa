"""Panels about runs shared by the Weights and Compare pages: the construction a run is measured against,
and the two variants of a softmax layer (query among its keys or not) side by side."""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine import learners, models
from engine.closed_form import NAMES
from engine.config import TrainConfig
from engine.runs import RunError
from ui import loaders, run_index


def construction_snapshot(config: TrainConfig, consts: dict[str, float]) -> dict:
    """A and B of the construction that computes the run's yardstick closed form, as a history snapshot."""
    learner = learners.of_construction(config.kind, config.task, consts, config.query_in_keys)
    A, B = models.products({k: np.asarray(v) for k, v in learner.params})
    return {"step": 0, "A": np.asarray(A).tolist(), "B": np.asarray(B).tolist()}


def other_variant(entry: run_index.RunEntry) -> run_index.RunEntry | None:
    """The best run of the same softmax setting with the other `query_in_keys`, if there is one."""
    c = entry.config or {}
    if c.get("kind") != "softmax":
        return None
    want = not entry.query_in_keys
    runs = [e for e in run_index.matching("softmax", c["d"], c["C"], c["n"], want) if e.query_in_keys == want]
    return runs[0] if runs else None


def variants_table(entries: list[run_index.RunEntry]) -> pd.DataFrame:
    """One row per run: its variant, the constants read off it, its loss, and both eq. 1 yardsticks (their
    constants, their loss on the run's evaluation contexts, the run's final alignment with each)."""
    rows = []
    for e in entries:
        try:
            history = loaders.read_history(e.path)
            config = TrainConfig.from_dict(e.config)
        except (RunError, TypeError, ValueError):
            continue
        if not history.get("evals"):
            continue
        last = history["evals"][-1]
        row = {"run": f"{e.origin}/{e.name}", "model": config.variant, "c_sigma": last["c_sigma"],
               "c_eta": last["c_eta"], "eval loss": last["eval_loss"]}
        for method, ys in history.get("yardsticks", {}).items():
            suffix = "" if method == config.yardstick else "_other"
            own = " (its own)" if method == config.yardstick else ""
            name = NAMES[method]
            row[f"{name}{own}: constants"] = ", ".join(f"{k} {v:.3g}" for k, v in ys["best"].items())
            row[f"{name}: loss"] = ys["loss"]
            row[f"{name}: preds diff"] = last.get("preds_diff" + suffix)
            row[f"{name}: cos sim"] = last.get("cos_sim" + suffix)
        rows.append(row)
    return pd.DataFrame(rows)
