"""Seeds: the headline's trained settings over several seeds, so that each number carries its uncertainty.

One shipped run per setting says what one seed learned; whether softmax attention beats linear attention at
a given d is a claim about the recipe, which seeds sample. Each headline preset (`fast-linear-d*`,
`fast-softmax-d*`) is trained over `SEEDS` at once by `engine.sweep` (the runs vmapped: each seed draws its own
initialisation and contexts, as `python -m engine train --seed S` would), and every seed's final layer is
measured on the headline's held-out contexts (`headline.held_out`, the same N), so a seed's row is comparable
to the headline's row for its run.

An interval over seeds is Student's t on the seeds' mean (`interval`); a difference between the two layers at
one d (`difference`) is Welch's on the two groups of seeds. Each seed also gets the training verdict
(`train.verdict`: within 1% of its closed form on its own evaluation contexts, and flat), and its history of
c_sigma and c_eta gives the seed bands of the constants-through-training chart.

Columns of pretrained/sweeps/seeds.csv, one row per (d, layer, seed):
    d, layer     the dimension (C = 5, n = 100) and "linear" or "softmax"
    preset       the preset trained
    seed         the run's seed
    loss         mean cross-entropy of the query on the held-out contexts (the headline's)
    loss_se      its standard error over contexts
    accuracy     fraction of held-out queries whose most probable class is right
    contexts     how many held-out contexts
    c_sigma, c_eta, strategy   read off the final weights (`extract`)
    converged, gap             `train.verdict` on the seed's own evaluation contexts; gap: relative to its closed form
Columns of pretrained/sweeps/seeds_history.csv, one row per (preset, seed, evaluation):
    preset, seed, step, eval_loss, c_sigma, c_eta

    python -m engine seeds [--seeds 0 1 2 3 4] [--presets fast-linear-d3 ...]
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import jax
import numpy as np
from scipy import stats

from engine import headline, metrics, models, sweep, train
from engine.config import PRESETS
from engine.figure_tables import read_table, write_csv
from engine.runs import PRETRAINED_ROOT

SEEDS = (0, 1, 2, 3, 4)
LAYERS = ("linear", "softmax")
COLUMNS = ["d", "layer", "preset", "seed", "loss", "loss_se", "accuracy", "contexts", "c_sigma", "c_eta", "strategy",
           "converged", "gap"]
HISTORY_COLUMNS = ["preset", "seed", "step", "eval_loss", "c_sigma", "c_eta"]
LEVEL = 0.95
LABELS = {what: label for label, what in headline.LEARNERS.items()}  # "linear" -> "linear SA (trained)", the table's


def default_path(root: Path = PRETRAINED_ROOT) -> Path:
    return root / "sweeps" / "seeds.csv"


def history_path(path: Path) -> Path:
    return path.with_name(path.stem + "_history.csv")


def preset_name(layer: str, d: int) -> str:
    return f"fast-{layer}-d{d}"


def presets(dims: Iterable[int] = headline.DIMS) -> list[str]:
    """The headline's trained settings, cheapest first (a long sweep keeps what it finished)."""
    names = [preset_name(layer, d) for layer in LAYERS for d in dims]
    return sorted(names, key=lambda p: PRESETS[p].steps * PRESETS[p].batch * PRESETS[p].d)


def measure(result: sweep.SweepResult, N: int) -> tuple[list[dict], list[dict]]:
    """Each seed's row (held-out loss, constants, verdict) and its history rows."""
    config = result.configs[0]
    ctx = headline.held_out(config.task, N)
    rows, hist = [], []
    for cfg, h, params in zip(result.configs, result.histories, result.params):
        p = {k: jax.numpy.asarray(v) for k, v in params.items()}
        m = metrics.per_context(models.logits(p, ctx, cfg.kind, query_in_keys=cfg.query_in_keys), ctx.yq)
        loss = np.asarray(m["loss"], np.float64)
        v = train.verdict(cfg, h, train.at_fit(cfg, cfg.yardstick, sweep.eval_contexts(cfg))[1])
        final = h[-1]
        rows.append({"d": cfg.d, "layer": cfg.kind, "preset": cfg.preset, "seed": cfg.seed,
                     "loss": float(loss.mean()), "loss_se": float(loss.std(ddof=1) / math.sqrt(loss.size)),
                     "accuracy": float(np.mean(m["correct"])), "contexts": N, "c_sigma": final["c_sigma"],
                     "c_eta": final["c_eta"], "strategy": final["strategy"], "converged": v["converged"],
                     "gap": v.get("gap", float("nan"))})
        hist += [{"preset": cfg.preset, "seed": cfg.seed, "step": e["step"], "eval_loss": e["eval_loss"],
                  "c_sigma": e["c_sigma"], "c_eta": e["c_eta"]} for e in h]
    return rows, hist


def _read(path: Path, columns: list[str]) -> list[dict]:
    """The rows written so far (none when the file is missing)."""
    return read_table(path, columns, ["converged"] if "converged" in columns else []).to_dict("records") \
        if path.is_file() else []


def _rounded(rows: list[dict]) -> list[dict]:
    return [{k: (float(f"{v:.7g}") if isinstance(v, float) else v) for k, v in r.items()} for r in rows]


def run(out: Path, names: Sequence[str], seeds: Sequence[int] = SEEDS, N: int = 4000,
        on_progress: Callable[[str, dict], None] | None = None) -> list[dict]:
    """Sweep each preset over `seeds`, measure, and write both CSVs after each preset: rows of presets not
    trained here are kept, so a long sweep can be run preset by preset."""
    unknown = [p for p in names if p not in PRESETS]
    if unknown:
        raise ValueError(f"unknown presets {unknown}")
    rows, hist = _read(out, COLUMNS), _read(history_path(out), HISTORY_COLUMNS)
    for name in names:
        t0 = time.time()
        result = sweep.sweep(PRESETS[name], seeds,
                             on_progress=None if on_progress is None else (lambda i, n=name: on_progress(n, i)))
        if result.status != "finished":
            raise KeyboardInterrupt
        new, new_hist = measure(result, N)
        rows = [r for r in rows if r["preset"] != name] + new
        hist = [r for r in hist if r["preset"] != name] + new_hist
        write_csv(out, COLUMNS, _rounded(rows))
        write_csv(history_path(out), HISTORY_COLUMNS, _rounded(hist))
        if on_progress is not None:
            on_progress(name, {"done": True, "elapsed_s": time.time() - t0, "rows": new})
    return rows


def band(history: Sequence[dict], preset: str, sign: float) -> list[dict]:
    """The seeds' range of c_sigma and c_eta through training for `preset`, over the seeds whose final c_eta has
    the sign `sign` (the branch a shown run took: seeds on the other branch would span zero): one row per step,
    `lo_c_sigma`, `hi_c_sigma`, `lo_c_eta`, `hi_c_eta` and `seeds` (how many)."""
    by_seed: dict[int, list[dict]] = {}
    for r in history:
        if r["preset"] == preset:
            by_seed.setdefault(r["seed"], []).append(r)
    by_step: dict[int, list[dict]] = {}
    for runs in by_seed.values():
        if np.sign(float(max(runs, key=lambda r: r["step"])["c_eta"])) == np.sign(sign):  # ended on the branch
            for r in runs:
                by_step.setdefault(int(r["step"]), []).append(r)
    out = []
    for step, at in sorted(by_step.items()):
        row = {"step": step, "seeds": len(at)}
        for name in ("c_sigma", "c_eta"):
            values = [float(r[name]) for r in at]
            row[f"lo_{name}"], row[f"hi_{name}"] = min(values), max(values)
        out.append(row)
    return out


def interval(values: Sequence[float], level: float = LEVEL) -> tuple[float, float, float]:
    """Mean and Student's t interval of the mean over seeds (NaN bounds for one seed)."""
    x = np.asarray(values, np.float64)
    mean = float(x.mean())
    if x.size < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return mean, mean - half, mean + half


def difference(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> tuple[float, float, float]:
    """mean(a) - mean(b) with Welch's interval (unequal variances; Welch-Satterthwaite degrees of freedom)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    diff = float(a.mean() - b.mean())
    se = math.sqrt(va + vb)
    if se == 0:
        return diff, diff, diff
    dof = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = float(stats.t.ppf(0.5 + level / 2, dof) * se)
    return diff, diff - half, diff + half


def summary(rows: Sequence[dict]) -> list[dict]:
    """One row per (d, layer): the layer's headline label (`learner`), seeds, mean held-out loss with its 95%
    interval, accuracy's mean and interval, how many seeds converged and learned selection."""
    out = []
    keys = sorted({(int(r["d"]), r["layer"]) for r in rows})
    for d, layer in keys:
        group = [r for r in rows if int(r["d"]) == d and r["layer"] == layer]
        mean, lo, hi = interval([float(r["loss"]) for r in group])
        acc, acc_lo, acc_hi = interval([float(r["accuracy"]) for r in group])
        out.append({"d": d, "layer": layer, "learner": LABELS.get(layer, layer), "seeds": len(group), "loss": mean,
                    "loss_lo": lo, "loss_hi": hi,
                    "accuracy": acc, "accuracy_lo": acc_lo, "accuracy_hi": acc_hi,
                    "converged": sum(bool(r["converged"]) for r in group),
                    "selection": sum(r["strategy"] == "selection" for r in group)})
    return out


def differences(rows: Sequence[dict]) -> dict[int, tuple[float, float, float]]:
    """Per d with both layers: softmax's held-out loss minus linear's over seeds, with Welch's interval."""
    out = {}
    for d in sorted({int(r["d"]) for r in rows}):
        loss = {layer: [float(r["loss"]) for r in rows if int(r["d"]) == d and r["layer"] == layer] for layer in LAYERS}
        if all(len(v) >= 2 for v in loss.values()):
            out[d] = difference(loss["softmax"], loss["linear"])
    return out


def verdict(rows: Sequence[dict]) -> str:
    """What the seeds allow: per d, softmax lower, higher, or not told apart (the interval holds 0)."""
    diffs = differences(rows)
    if not diffs:
        return ""
    seeds = sorted({len([r for r in rows if int(r["d"]) == d and r["layer"] == la]) for d in diffs for la in LAYERS})
    lower = [f"d = {d} (by {-m:.4f}, 95% interval {-hi:.4f} to {-lo:.4f})" for d, (m, lo, hi) in diffs.items()
             if hi < 0]
    higher = [f"d = {d} (by {m:.4f}, {lo:.4f} to {hi:.4f})" for d, (m, lo, hi) in diffs.items() if lo > 0]
    apart = [f"d = {d} ({m:+.4f}, {lo:+.4f} to {hi:+.4f})" for d, (m, lo, hi) in diffs.items() if lo <= 0 <= hi]
    n = f"{seeds[0]}" if len(seeds) == 1 else f"{seeds[0]} to {seeds[-1]}"
    out = [f"Over {n} seeds per layer:"]
    if lower:
        out.append("softmax attention's held-out cross-entropy is lower than linear attention's at " + "; ".join(lower)
                   + ".")
    if higher:
        out.append("It is higher at " + "; ".join(higher) + ".")
    if apart:
        out.append("At " + "; ".join(apart) + " the 95% interval of the difference holds 0: the seeds do not "
                   "tell the two layers apart.")
    widths = [(s["loss_hi"] - s["loss_lo"]) / 2 for s in summary(rows) if not math.isnan(s["loss_hi"])]
    if widths:
        out.append(f"Each layer's mean is known to within ±{max(widths):.4f} (95%).")
    return " ".join(out)
