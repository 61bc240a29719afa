"""Other context sizes at test time: layers trained at one n (the shipped runs: n = 100) evaluated at n = 20 to
400, against their closed forms at the constants fitted at the training n (not refitted) and refitted at each n.

The question it answers: does eq. 1's context-adaptive rate carry over to other n, where eq. 2's fixed rate must
be refitted? Eq. 1 weighs the labels by a softmax over the context (its rate adapts to how many points lie near the
query); eq. 2 averages them with one rate eta. The table holds, at each n: the trained layer (its weights are those
learned at the training n; attention accepts any n); its closed form (eq. 2 for linear layers, eq. 1 for softmax,
`closed_form.represented_by`) at the training n's fit and refitted at that n; and for softmax layers GD (eq. 2)
both ways as well, so that both rates are measured on the same contexts.

A trained linear layer's B is fixed, so at n it computes eq. 2 with the rate eta n / n_train: its output is a
sum over the context, where eq. 2 as written (the "not refitted" rows) averages, keeping eta.

Held-out contexts come from the headline's key (`headline.held_out`), so the rows at n = 100 are the headline's
numbers for the same N. Fits are `engine.fitted`'s (shipped at n = 100, cached in runs/.fits at the other n), on
`fit_N` fit contexts; with the same `fit_N` at every n, the refitted row at the training n is its not-refitted row.

Columns of pretrained/sweeps/context_size.csv, one row per (d, n, learner, refitted):
    d          the dimension (C = 5; trained at n = 100)
    n          the context size evaluated
    learner    "linear SA (trained)", "softmax SA (trained)" or a closed form's one name (`closed_form.NAMES`)
    kind       "trained layer" or "closed form"
    refitted   True: the closed form's constants fitted at this n; False: those of the training n (or the weights)
    fit_n      the n its constants (or weights) were fitted (trained) at
    loss       mean cross-entropy of the query over the held-out contexts
    loss_se    its standard error (standard deviation over contexts / sqrt(contexts))
    accuracy   fraction of queries whose most probable class is right
    contexts   how many held-out contexts
    constants  the constants, with the fit's grid-edge and valley notes (closed forms), or the run (trained layers)

    python -m engine context_size [--out pretrained/sweeps/context_size.csv] [--d 2 3 5 10]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from engine import fitted, metrics, models
from engine.closed_form import NAMES, represented_by
from engine.fit import closed_form_fn
from engine.headline import held_out
from engine.runs import PRETRAINED_ROOT, load_run
from engine.tasks import Contexts, TaskConfig

NS = (20, 50, 100, 200, 400)
DIMS = (2, 3, 5, 10)
N_CONTEXTS = 4000
COLUMNS = ["d", "n", "learner", "kind", "refitted", "fit_n", "loss", "loss_se", "accuracy", "contexts", "constants"]
LAYER_LABELS = {"linear": "linear SA (trained)", "softmax": "softmax SA (trained)"}
CSV_NAME = "context_size.csv"


def default_path(root: Path = PRETRAINED_ROOT) -> Path:
    return root / "sweeps" / CSV_NAME


def closed_forms(kind: str, query_in_keys: bool = False) -> list[str]:
    """The closed forms a layer of `kind` is set against: the one it represents, and GD (eq. 2) for a softmax
    layer, so that eq. 1's adaptive rate and GD's fixed one are measured side by side."""
    own = represented_by(kind, query_in_keys)
    return [own] + (["gd"] if kind == "softmax" and own != "gd" else [])


def summary(logits_BxC: jax.Array, yq_B: jax.Array) -> dict[str, float]:
    """Mean cross-entropy, its standard error over the contexts, and accuracy."""
    m = metrics.per_context(logits_BxC, yq_B)
    loss_B = np.asarray(m["loss"], np.float64)
    se = float(loss_B.std(ddof=1) / math.sqrt(loss_B.size)) if loss_B.size > 1 else float("nan")
    return {"loss": float(loss_B.mean()) + 0.0, "loss_se": se, "accuracy": float(np.mean(m["correct"]))}


def rows(params: dict, kind: str, train_task: TaskConfig, query_in_keys: bool = False, *, name: str = "",
         ns: Sequence[int] = NS, N: int = N_CONTEXTS, fit_N: int = fitted.FIT_N,
         contexts: Callable[[TaskConfig, int], Contexts] = held_out,
         on_step: Callable[[str], None] | None = None) -> list[dict]:
    """A trained layer (`params`, trained on `train_task`) and its closed forms at every n in `ns`, on N held-out
    contexts of (d, C, n) each: the layer, each closed form at `train_task`'s fit, and refitted at n (see
    `closed_forms`). An n that is not a multiple of C raises ValueError (TaskConfig says which n would do)."""
    tasks = [TaskConfig(train_task.d, train_task.C, int(n)) for n in ns]  # all checked before any work
    weights = {k: jnp.asarray(v) for k, v in params.items()}
    methods = closed_forms(kind, query_in_keys)
    at_train = {m: fitted.fitted(m, train_task, fit_N) for m in methods}
    out = []
    for task in tasks:
        ctx = contexts(task, N)
        here = {"d": task.d, "n": task.n, "contexts": N}
        lg = models.logits(weights, ctx, kind, query_in_keys=query_in_keys)
        out.append({**here, "learner": LAYER_LABELS[kind], "kind": "trained layer", "refitted": False,
                    "fit_n": train_task.n, **summary(lg, ctx.yq), "constants": f"run {name}" if name else "run"})
        for m in methods:
            for refit, f in ((False, at_train[m]), (True, fitted.fitted(m, task, fit_N))):
                out.append({**here, "learner": NAMES[m], "kind": "closed form", "refitted": refit, "fit_n": f.n,
                            **summary(closed_form_fn(m, f.refined)(ctx), ctx.yq), "constants": f.constants_text()})
        if on_step is not None:
            on_step(f"{name or kind} d={task.d} n={task.n}: " + ", ".join(
                f"{r['learner']}{' refitted' if r['refitted'] else ''} {r['loss']:.4f}" for r in out[-1 - 2 * len(
                    methods):]))
    return out


def table(root: Path = PRETRAINED_ROOT, dims: Sequence[int] = DIMS, kinds: Sequence[str] = ("linear", "softmax"),
          ns: Sequence[int] = NS, N: int = N_CONTEXTS, fit_N: int = fitted.FIT_N,
          on_step: Callable[[str], None] | None = None) -> list[dict]:
    """`rows` for every shipped `fast-{kind}-d{d}` run under `root`, each closed-form row once per (d, n) (the
    linear and the softmax run of one d meet GD on the same contexts). A missing run is left out."""
    out, seen = [], set()
    for d in dims:
        for kind in kinds:
            path = Path(root) / f"fast-{kind}-d{d}"
            if not (path / "config.json").is_file():
                continue
            run = load_run(path)
            for r in rows(run.params, run.config.kind, run.config.task, run.config.query_in_keys, name=path.name,
                          ns=ns, N=N, fit_N=fit_N, on_step=on_step):
                key = (r["d"], r["n"], r["learner"], r["refitted"])
                if key not in seen:
                    seen.add(key)
                    out.append(r)
    return sorted(out, key=lambda r: (r["d"], r["n"]))  # stable: each (d, n) keeps its learners' order


def write(path: Path, table_rows: list[dict]) -> None:
    from engine.figure_tables import write_csv

    write_csv(Path(path), COLUMNS, table_rows)


# ---------------------------------------------------------------- what the table says

NEAR = 0.005  # cross-entropy: gaps below this are not told apart in words
LAYER_OF = {"softmax SA (trained)": "eq. 1", "linear SA (trained)": "GD (eq. 2)"}  # each layer's n = 100 yardstick


def _records(tab) -> list[dict]:
    return tab.to_dict("records") if hasattr(tab, "to_dict") else list(tab)


def _true(v) -> bool:
    return v is True or str(v).strip().lower() in ("true", "1", "1.0")


def _losses(recs: list[dict], learner: str, refitted: bool) -> dict[int, float]:
    return {int(r["n"]): float(r["loss"]) for r in recs if r["learner"] == learner and _true(r["refitted"]) == refitted}


def train_n(tab, d: int) -> int | None:
    """The n the layers were trained (and the not-refitted constants fitted) at."""
    return next((int(r["fit_n"]) for r in _records(tab) if int(r["d"]) == d and not _true(r["refitted"])), None)


def refit_gain(tab, d: int, learner: str) -> dict[int, float]:
    """Per n, the loss of closed form `learner` at the training n's constants minus its loss refitted at n: what not
    refitting costs (>= 0 up to the fit's own error; exactly 0 at the training n)."""
    recs = [r for r in _records(tab) if int(r["d"]) == d]
    fixed, refit = _losses(recs, learner, False), _losses(recs, learner, True)
    return {n: fixed[n] - refit[n] for n in sorted(fixed) if n in refit}


def layer_gap(tab, d: int, layer: str) -> dict[int, float]:
    """Per n, the trained layer's loss minus that of the closed form it represents at the training n's constants:
    whether the layer still computes that closed form at other n."""
    recs = [r for r in _records(tab) if int(r["d"]) == d]
    mine, its = _losses(recs, layer, False), _losses(recs, LAYER_OF[layer], False)
    return {n: mine[n] - its[n] for n in sorted(mine) if n in its}


def _largest(per_n: dict[int, float], skip: int | None) -> tuple[int, float] | None:
    """The n (other than `skip`) where |value| is largest, and that value."""
    away = {n: v for n, v in per_n.items() if n != skip}
    if not away:
        return None
    n = max(away, key=lambda k: abs(away[k]))
    return n, away[n]


def carry_over(tab, d: int) -> str:
    """What the table says at d, in words computed from it: how much refitting at each n gains eq. 1 and GD over
    the training n's constants (do the closed forms' constants carry over?), and how far each trained layer strays
    from its closed form at those constants (does the layer still compute it at other n?)."""
    n0 = train_n(tab, d)
    if n0 is None:
        return ""
    eq1, gd = (NAMES[m] for m in ("adaptive", "gd"))
    out = []
    g = {lbl: _largest(refit_gain(tab, d, lbl), n0) for lbl in (eq1, gd)}
    if g[eq1] and g[gd]:
        (na, a), (nb, b) = g[eq1], g[gd]
        how = ("about equally for eq. 1 and GD (eq. 2)" if abs(a - b) < NEAR else
               f"{'worse' if a > b else 'better'} for eq. 1 than for GD (eq. 2)")
        out.append(f"At d = {d}, the constants fitted at n = {n0} carry over {how}: refitting at each n lowers "
                   f"eq. 1's cross-entropy by up to {a:.3f} (at n = {na}), GD's by up to {b:.3f} (at n = {nb}).")
    gaps = {lbl: _largest(layer_gap(tab, d, lbl), n0) for lbl in LAYER_OF}
    said = [f"{lbl.split(' (')[0]} from {LAYER_OF[lbl]} by up to {abs(v[1]):.3f} (at n = {v[0]})"
            for lbl, v in gaps.items() if v]
    if said:
        text = f"Trained at n = {n0}, the layers differ from their closed forms at those constants: " + ", ".join(said)
        s_gap, l_gap = (abs(gaps[k][1]) if gaps[k] else None for k in LAYER_OF)
        if s_gap is not None and l_gap is not None and l_gap > s_gap + NEAR:
            text += (f"; softmax attention renormalises over however many points there are, while a linear layer's "
                     f"output sums over them, so its rate per point stays that of n = {n0} where GD's is divided "
                     "by n")
        out.append(text + ".")
    return " ".join(out)
