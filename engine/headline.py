"""The paper's title claim in one table: on the same held-out contexts, the cross-entropy of trained linear
SA, trained softmax SA, trained kernel SA (d = 2, 3, 5), GD (eq. 2), kernel GD (eq. 3) and eq. 1, for every d of the
shipped runs, with the classic learners of `engine.baselines` beside them as yardsticks.

The closed forms sit at their stored fits (`engine.fitted`, made on other contexts), the baselines at constants
fitted on the same fit contexts' key (`baselines.fitted`); the trained layers are the shipped `fast-*` runs.
Softmax attention can represent eq. 1 and linear attention only GD, so softmax may do better; how much better, by
d, is what the table measures (`verdict` says it in words, `yardsticks` what the baselines add).

Columns of pretrained/headline.csv, one row per (d, learner):
    d          the dimension (C = 5, n = 100)
    learner    the learner's one name (closed forms: `closed_form.NAMES`; baselines: `baselines.NAMES`)
    kind       "trained layer", "closed form" or "baseline"
    loss       mean cross-entropy of the query on the held-out contexts (the oracle's is exactly 0)
    accuracy   fraction of held-out queries whose most probable class is right
    contexts   how many held-out contexts
    constants  the fitted constants (closed forms, baselines) or the run (trained layers)

    python -m engine headline [--out pretrained/headline.csv] [--contexts 4000]
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import jax

from engine import baselines, fitted, metrics, models
from engine.closed_form import NAMES
from engine.fit import closed_form_fn
from engine.runs import PRETRAINED_ROOT, load_run
from engine.tasks import TaskConfig, sample_contexts

HELD_OUT_SEED = 20_250_417  # the held-out contexts' key: no fit, run or page draws from it
DIMS = (2, 3, 5, 10)
COLUMNS = ["d", "learner", "kind", "loss", "accuracy", "contexts", "constants"]
LEARNERS = {"linear SA (trained)": "linear", "softmax SA (trained)": "softmax", "kernel SA (trained)": "kernel",
            **{NAMES[m]: m for m in ("gd", "kernel_gd", "adaptive")}}  # the closed forms under their one name
LAYERS = ("linear", "softmax", "kernel")  # trained layers: the shipped fast-<kind>-d<d> runs (no kernel run at d = 10)
BASELINES = {baselines.NAMES[b]: b for b in baselines.BASELINES}  # the yardsticks, under theirs


def held_out(task: TaskConfig, N: int):
    return sample_contexts(jax.random.fold_in(jax.random.key(HELD_OUT_SEED), task.d), task, N)


def rows(root: Path = PRETRAINED_ROOT, N: int = 4000, dims=DIMS, C: int = 5, n: int = 100,
         fit_N: int = baselines.FIT_N) -> list[dict]:
    """One row per (d, learner): mean cross-entropy and accuracy on N held-out contexts, the learners of LEARNERS
    then the baselines (fitted on `fit_N` fit contexts). A d whose run is missing keeps the rest."""
    out = []
    for d in dims:
        task = TaskConfig(d, C, n)
        ctx = held_out(task, N)

        def row(label: str, kind: str, logits, constants: str) -> dict:
            m = metrics.per_context(logits, ctx.yq)
            return {"d": d, "learner": label, "kind": kind, "loss": float(m["loss"].mean()) + 0.0,  # no -0.0
                    "accuracy": float(m["correct"].mean()), "contexts": N, "constants": constants}

        for label, what in LEARNERS.items():
            if what in LAYERS:
                path = root / f"fast-{what}-d{d}"
                if not (path / "config.json").is_file():
                    continue
                run = load_run(path)
                params = {k: jax.numpy.asarray(v) for k, v in run.params.items()}
                logits = models.logits(params, ctx, what, query_in_keys=run.config.query_in_keys)
                out.append(row(label, "trained layer", logits, f"run {path.name}"))
            else:
                consts = fitted.fitted(what, task).refined
                out.append(row(label, "closed form", closed_form_fn(what, consts)(ctx),
                               ", ".join(f"{k} {v:.3g}" for k, v in consts.items())))
        out += [{"d": d, **r, "contexts": N} for r in baselines.table(ctx, baselines.fitted(task, fit_N))]
    return out


SMALL_GAP = 0.01  # cross-entropy: below this, one trained run per d does not tell the layers apart


def _losses(table) -> dict[tuple[int, str], float]:
    return {(int(r["d"]), r["learner"]): float(r["loss"]) for r in _records(table)}


def _best_minus_best(table, these: Sequence[str], those: Sequence[str]) -> dict[int, float]:
    """Per d, the lowest cross-entropy among `these` minus the lowest among `those`, for the d that have both."""
    loss = _losses(table)
    out = {}
    for d in sorted({d for d, _ in loss}):
        a, b = ([loss[(d, x)] for x in group if (d, x) in loss] for group in (these, those))
        if a and b:
            out[d] = min(a) - min(b)
    return out


def gaps(table) -> dict[int, float]:
    """Per d, the trained softmax layer's held-out cross-entropy minus the trained linear layer's (negative:
    softmax lower), for the d that have both."""
    return _best_minus_best(table, ["softmax SA (trained)"], ["linear SA (trained)"])


def _split(g: dict[int, float]) -> tuple[list[str], list[str], list[str]]:
    """Gaps per d in words: clearly lower (by at least SMALL_GAP), clearly higher, and within SMALL_GAP."""
    lower = [f"{-v:.3f} at d = {d}" for d, v in g.items() if v <= -SMALL_GAP]
    higher = [f"{v:.3f} at d = {d}" for d, v in g.items() if v >= SMALL_GAP]
    small = [f"d = {d} ({'+' if v >= 0 else '-'}{abs(v):.3f})" for d, v in g.items() if abs(v) < SMALL_GAP]
    return lower, higher, small


def verdict(table) -> str:
    """What the table shows of softmax against linear attention, in words that claim no more than one run per
    d can: clear gaps named as such, small ones (under SMALL_GAP) said to be within what a seed could move."""
    clear, worse, small = _split(gaps(table))
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


def kernel_words(table) -> str:
    """The trained kernel attention layer against kernel GD (eq. 3), the closed form it represents (Proposition
    3.2), per d where the table has both: one sentence, empty when it has none."""
    g = _best_minus_best(table, ["kernel SA (trained)"], [NAMES["kernel_gd"]])
    if not g:
        return ""
    return ("Kernel attention, the paper's third layer, trained: its cross-entropy minus kernel GD's (eq. 3) at its "
            "fitted constants is " + _and([f"{v:+.4f} at d = {d}" for d, v in g.items()]) + ".")


ORACLE, KNN, LOGREG = (baselines.NAMES[b] for b in ("oracle", "knn", "logreg"))
GD_STEPS = [baselines.NAMES[f"gd_{s}"] for s in baselines.STEPS]


def _and(items: list[str]) -> str:
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else items[0]


def _against(subject: str, other: str, g: dict[int, float]) -> str:
    """`subject` against `other` in one sentence, from the cross-entropy gaps per d (subject minus other)."""
    lower, higher, small = _split(g)
    parts = ([("lower", lower)] if lower else []) + ([("higher", higher)] if higher else [])
    words = [f"{how} {'than ' + other + ' ' if i == 0 else ''}by {_and(at)}" for i, (how, at) in enumerate(parts)]
    if small:
        words.append(f"within {SMALL_GAP} of {'it' if parts else other} at {_and(small)}")
    return f"{subject}: cross-entropy " + "; ".join(words) + "." if words else ""


def yardsticks(table) -> list[str]:
    """What the baselines add, one sentence each, in words computed from the table (all on the same contexts): the
    oracle's floor, logistic regression and a few more GD steps against the one-step learners, k-NN against eq. 1."""
    recs = [r for r in _records(table) if r["learner"] == ORACLE]
    out = []
    if recs and all(float(r["loss"]) == 0 and float(r["accuracy"]) == 1 for r in recs):
        out.append("The oracle that knows the prototypes is always right (cross-entropy 0, accuracy 1): the floor, "
                   "which no learner that sees only the context reaches.")
    elif recs:
        out.append(f"The oracle that knows the prototypes: cross-entropy up to {max(r['loss'] for r in recs):.3g}.")
    out.append(_against("Logistic regression run to convergence on the context (GD's linear model, penalty fitted)",
                        "the best one-step learner (trained or closed form)",
                        _best_minus_best(table, [LOGREG], list(LEARNERS))))
    out.append(_against(f"The best of {baselines.STEPS[0]} to {baselines.STEPS[-1]} GD steps (rate fitted per "
                        "number of steps)",
                        "one step (eq. 2)", _best_minus_best(table, GD_STEPS, [NAMES["gd"]])))
    out.append(_against("k-NN's vote (k fitted)", "eq. 1", _best_minus_best(table, [KNN], [NAMES["adaptive"]])))
    return [x for x in out if x]


def by_d(table) -> list[dict]:
    """The table as it is read: one row per learner (in the table's order), one cell per d, "loss (accuracy)"."""
    recs = _records(table)
    out: dict[str, dict] = {}
    for r in recs:
        row = out.setdefault(r["learner"], {"learner": r["learner"], "kind": r["kind"]})
        row[f"d = {int(r['d'])}"] = f"{float(r['loss']):.3f} ({100 * float(r['accuracy']):.1f}%)"
    return list(out.values())


def _records(table) -> list[dict]:
    return table.to_dict("records") if hasattr(table, "to_dict") else list(table)


def write(path: Path, table: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(table)
