"""What the figures' tables say: whether a run left the chance plateau and learned an algorithm, Fig. 11's
proportions of selection per shape, and Fig. 10's comparison of training rates. Pure functions of numbers and
frames; the tables' columns are in `engine.figure_tables`."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

FIG11_BASE = {"d": 2, "C": 5, "n": 100}  # Fig. 11's base shape; each group varies one of C, d, n from it
LEARNED = 0.97  # a run has left the chance plateau when its eval loss is below 97% of log C
DECIDED = 1.0  # ... and reads as an algorithm when |c_sigma / sqrt(D) + c_eta| (the strategy margin) exceeds this


def off_plateau(eval_loss: float, C: int) -> bool:
    """A run has left the chance plateau (loss log C) when its eval loss is below LEARNED log C."""
    return bool(eval_loss < LEARNED * math.log(C))


def learned(eval_loss: float, margin: float, C: int) -> bool:
    """A run learned an algorithm: off the chance plateau and with a clear selection/elimination reading.

    At C = 2 most runs (15 of 20 in the shipped sweep) stop at c_sigma ~ c_eta ~ 0 (loss ~0.47, below
    log 2 but far above the ~0.13 of either algorithm): the sign of the reading is noise there, so such
    runs are not counted."""
    return off_plateau(eval_loss, C) and bool(margin >= DECIDED)


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval of a proportion k / n (95% by default): unlike the normal approximation it
    stays inside [0, 1] and is not empty at 0 or n of n, which 20 seeds often give."""
    if n <= 0:
        return math.nan, math.nan
    p, z2 = k / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


FLAT_SHARE = 0.9  # c_eta's growth has flattened once |c_eta| is within 10% of where the run ends
STILL_GROWING = 0.1  # ... unless |c_eta| still grew by more than 10% over the last fifth of the run


def _label(vary: str, value: int, shape: Mapping[str, int], base: Mapping[str, int]) -> str:
    """The x label of a Fig. 11 point; a C point whose n is not the base n says so (n = 100 is not a multiple
    of 3 or 8)."""
    extra = f" (n={shape['n']})" if vary != "n" and shape["n"] != base["n"] else ""
    return f"{value}{extra}"


def fig11_summary(rows: pd.DataFrame, base: Mapping[str, int] = FIG11_BASE) -> pd.DataFrame:
    """One row per (vary, value) of fig11.csv: the shape, the seeds, how many learned selection, how many
    learned an algorithm (`learned`), and the proportions of selection among all runs and among those, each with
    its 95% Wilson interval (`*_lo`, `*_hi`)."""
    out = []
    for vary in dict.fromkeys(rows["vary"]):  # groups in file order
        group = rows[rows["vary"] == vary]
        for value, runs in group.groupby(vary, sort=True):
            shape = {k: int(runs[k].iloc[0]) for k in ("d", "C", "n")}
            sel = runs["strategy"] == "selection"
            learned = runs["learned"].astype(bool)
            lo, hi = wilson(int(sel.sum()), len(runs))
            lo_learned, hi_learned = wilson(int((sel & learned).sum()), int(learned.sum()))
            out.append({
                "vary": vary, "value": int(value), "label": _label(vary, int(value), shape, base), **shape,
                "base": shape == dict(base), "seeds": len(runs), "selection": int(sel.sum()),
                "proportion": float(sel.mean()), "learned": int(learned.sum()),
                "learned_selection": int((sel & learned).sum()),
                "proportion_learned": float((sel & learned).sum() / learned.sum()) if learned.any() else math.nan,
                "learned_text": f"{int(learned.sum())}/{len(runs)}", "proportion_lo": lo, "proportion_hi": hi,
                "proportion_learned_lo": lo_learned, "proportion_learned_hi": hi_learned,
            })
    return pd.DataFrame(out)


def fig11_by_init(rows: pd.DataFrame, base: Mapping[str, int] = FIG11_BASE) -> pd.DataFrame:
    """`fig11_summary` per initialisation reading (the `init` column of fig11_init.csv), stacked, with `init`."""
    return pd.concat([fig11_summary(group, base).assign(init=init) for init, group in rows.groupby("init", sort=False)],
                     ignore_index=True)


def init_words(by_init: pd.DataFrame) -> str:
    """What the two readings do to Fig. 11, per C, in words that claim only what the intervals allow: the
    proportions differ clearly when their 95% Wilson intervals do not overlap."""
    out = []
    inits = list(dict.fromkeys(by_init["init"]))
    if len(inits) != 2:
        return ""
    for (vary, value), group in by_init.groupby(["vary", "value"], sort=True):
        a, b = (group[group["init"] == i].iloc[0] for i in inits)
        apart = a["proportion_hi"] < b["proportion_lo"] or b["proportion_hi"] < a["proportion_lo"]
        out.append(f"{vary} = {value}: {a['selection']}/{a['seeds']} selection under {inits[0]} against "
                   f"{b['selection']}/{b['seeds']} under {inits[1]} "
                   + ("(intervals apart: the start changes the proportion)" if apart else
                      "(intervals overlap: 20 seeds do not tell them apart)"))
    return "; ".join(out) + "."


def fig10_summary(rows: pd.DataFrame, C: int = 5) -> pd.DataFrame:
    """Per (recipe, lr) of fig10.csv: when the run left the chance plateau, when and at what value c_eta's
    growth flattened (first evaluation with |c_eta| >= FLAT_SHARE of its final value, the final value being
    the mean over the last 5% of evaluations against noise), whether it was still growing at the end, and the
    final eval loss: the comparison the paper draws between training rates."""
    out = []
    for (recipe, lr), part in rows.groupby(["recipe", "lr"], sort=False):
        part = part.sort_values("step")
        steps, c_eta = part["step"].to_numpy(), part["c_eta"].to_numpy(float)
        loss = part["eval_loss"].to_numpy(float)
        tail = max(1, len(part) // 20)
        final = float(np.mean(c_eta[-tail:]))
        reached = np.flatnonzero(np.abs(c_eta) >= FLAT_SHARE * abs(final))
        at = int(reached[0]) if reached.size else len(part) - 1
        fifth = np.searchsorted(steps, steps[-1] - (steps[-1] - steps[0]) / 5)
        grown = abs(final) / max(abs(float(np.mean(c_eta[max(0, fifth - tail):fifth + 1]))), 1e-12) - 1
        left = np.flatnonzero(loss < LEARNED * math.log(C))
        out.append({"recipe": recipe, "lr": float(lr), "paper_lr": float(part["paper_lr"].iloc[0]),
                    "left_plateau_at": int(steps[left[0]]) if left.size else None,
                    "flattened_at": int(steps[at]), "c_eta_there": float(c_eta[at]), "final_c_eta": final,
                    "final_c_sigma": float(np.mean(part["c_sigma"].to_numpy(float)[-tail:])),
                    "still_growing": bool(grown > STILL_GROWING), "final_eval_loss": float(loss[-1]),
                    "steps": int(steps[-1])})
    return pd.DataFrame(out)
