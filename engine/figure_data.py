"""Data for the paper's Fig. 10 and Fig. 11, trained as vmapped sweeps (engine.sweep), as CSV files.

    python -m engine figure_data fig11 [--out pretrained/sweeps/fig11.csv] [--steps N] [--seeds 20] [--vary C d n]
                                   [--values V ...] [--init normal variance_scaling]
    python -m engine figure_data fig10 [--out pretrained/sweeps/fig10.csv] [--steps 30000] [--lr-scale 25]
                                   [--batch 256]
                                   [--fast-run pretrained/fast-softmax-d10] [--fast-steps M]

fig11: the proportion of runs that learn selection (docs/science.md section 7), 20 seeds each, base d = 2, C = 5,
n = 100, varying C in (2, 3, 5, 8, 10), d in (2, 3, 5, 10) and n in (20, 50, 100, 200) in turn.
n must be a multiple of C, and 100 is not one of 3 or of 8: for C = 3 and C = 8 the runs use
n = 120 (the CSV's n column says so). The base shape appears in all three groups; it is trained
once and its rows repeated. Recipe `strategy_recipe`: the paper's initialisation 0.002 (the start's
scale changes which strategy a seed learns), warmup-cosine to lr 3e-2, batch 256, clip 1. From this
start a run first sits on a plateau at chance level (loss log C), longer as d grows (the evidence file
below has every run's evaluations; the shipped sweep's numbers are in pretrained/README.md). Steps
therefore grow with d (FIG11_STEPS, as many as this CPU allows);
`--steps N` sets one count for all. The `learned` column marks runs that learned
an algorithm (`learned`: final eval loss below 0.97 log C and a strategy margin of at least 1).
A companion `<out>_evidence.csv` holds every run's strategy at every evaluation, and the command
prints how often the strategy at each evaluation already agrees with the final one.
`--values` keeps only those points of the one group `--vary` names (e.g. `--vary C --values 2 5`).
`--init` names the initialisation's readings to train (`TrainConfig.init`: "normal", N(0, 0.002^2), the
default and the shipped sweep's; "variance_scaling", std sqrt(0.002 / D), von Oswald et al.'s code); every
reading trains every point, and the `init` column says which. Fig. 11 under both readings at C = 2 and 5:

    python -m engine figure_data fig11 --vary C --values 2 5 --init normal variance_scaling \
        --out pretrained/sweeps/fig11_init.csv

fig10: c_sigma and c_eta through training for d = 10 at the paper's four learning rates 5e-5, 1e-4, 8e-4,
3e-3, with the paper's recipe otherwise (Adam, constant rate, initialisation 0.002, clip 1; one vmapped
sweep over the four rates, seed 0 for all), next to the project's converging recipe
`PRESETS["fast-softmax-d10"]`, read from its saved run (--fast-run) or, when that folder has no history,
trained here for --fast-steps. The paper ran 2,000,000 steps at batch 2048 (~130 h on this CPU). Scaled to
fit about 45 minutes here: every rate is multiplied by --lr-scale (default 25: 1.25e-3, 2.5e-3, 2e-2,
7.5e-2) and the batch is --batch (default 256). With Adam a step moves each weight by about the rate
whatever the gradient's size, so multiplying every rate by one factor shortens every run's time scale by
that factor and keeps the rates' ratios (60 from lowest to highest), which is what the comparison is
about: the order in which the four runs leave the chance plateau and flatten. The smaller batch adds
gradient noise alike to all four. Columns: recipe, lr (the rate used), paper_lr (the paper's rate it
stands for; empty for the fast recipe), batch, step, c_sigma, c_eta, eval_loss (on 512 held-out
contexts, nats), recipe_steps (the recipe's full length: 2,000,000 for the paper's).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from engine import sweep
from engine.config import PRESETS, TrainConfig, strategy_recipe
from engine.figure_analysis import DECIDED, FIG11_BASE, LEARNED, fig10_summary, fig11_summary, learned, wilson
from engine.figure_tables import FIG10_COLUMNS, FIG11_EVIDENCE_WRITTEN, FIG11_WRITTEN, write_csv
from engine.models import INITS
from engine.runs import read_json

FIG11_VARY = {"C": (2, 3, 5, 8, 10), "d": (2, 3, 5, 10), "n": (20, 50, 100, 200)}
FIG11_N_FOR_C = {3: 120, 8: 120}  # n = 100 is not a multiple of C: 120 is a multiple of both
FIG11_STEPS = {2: 350, 3: 500, 5: 800, 10: 1500}  # by d: most runs leave the chance plateau
FIG10_LRS = (5e-5, 1e-4, 8e-4, 3e-3)
FIG10_STEPS = 30_000  # with FIG10_LR_SCALE and FIG10_BATCH: every rate leaves the plateau (~45 min here)
FIG10_LR_SCALE = 25.0
FIG10_BATCH = 256


def fig11_shapes() -> list[tuple[str, dict[str, int]]]:
    """(vary, shape) for every point of Fig. 11, in order."""
    out = []
    for vary, values in FIG11_VARY.items():
        for v in values:
            shape = {**FIG11_BASE, vary: v}
            if vary == "C" and shape["n"] % v:
                shape["n"] = FIG11_N_FOR_C[v]
            out.append((vary, shape))
    return out


def fig11_points(vary: Sequence[str] | None = None, values: Sequence[int] | None = None
                 ) -> list[tuple[str, dict[str, int]]]:
    """(vary, shape) of the points of the groups `vary` (default: all); with `values`, only those values of
    the one group named (a part of the figure, e.g. C = 2 and 5, at the cost of those points alone)."""
    vary = tuple(FIG11_VARY) if vary is None else tuple(vary)
    unknown = [v for v in vary if v not in FIG11_VARY]
    if unknown:
        raise ValueError(f"--vary {' '.join(unknown)}: Fig. 11 varies {', '.join(FIG11_VARY)}")
    points = [(v, s) for v, s in fig11_shapes() if v in vary]
    if values is None:
        return points
    if len(vary) != 1:
        raise ValueError(f"--values restricts one group: give one --vary, not {' '.join(vary)}")
    group = vary[0]
    missing = sorted(set(values) - set(FIG11_VARY[group]))
    if missing:
        raise ValueError(f"--values {' '.join(map(str, missing))}: not a point of Fig. 11; {group} takes "
                         f"{', '.join(map(str, FIG11_VARY[group]))}")
    return [(v, s) for v, s in points if s[v] in values]


def fig11_steps(d: int) -> int:
    """Steps of a Fig. 11 run at dimension d (the listed d at or above it)."""
    return FIG11_STEPS[min((k for k in FIG11_STEPS if k >= d), default=max(FIG11_STEPS))]


def fig11_config(d: int, C: int, n: int, steps: int | None = None, batch: int = 256,
                 init: str = "normal") -> TrainConfig:
    """One point of Fig. 11: `strategy_recipe` (its runs are the `fig11-*` presets' runs), its start drawn
    by the reading `init` of the paper's 0.002 (`TrainConfig.init`)."""
    return dataclasses.replace(strategy_recipe(d, C, n, steps or fig11_steps(d), batch), init=init)


def _printer(label: str, stream=sys.stderr) -> Callable[[dict], None]:
    def show(info: dict) -> None:
        frac = info["step"] / info["steps"]
        eta = info["elapsed_s"] / frac * (1 - frac) if frac > 0 else float("nan")
        sel = sum(e["strategy"] == "selection" for e in info["evals"])
        stream.write(f"\r  {label}: step {info['step']}/{info['steps']}, {info['elapsed_s']:.0f} s, ETA {eta:.0f} s, "
                     f"selection {sel}/{len(info['evals'])}   ")
        stream.flush()
    return show


def fig11(out: Path, steps: int | None = None, seeds: int = 20, batch: int = 256,
          vary: Sequence[str] | None = None, values: Sequence[int] | None = None,
          inits: Sequence[str] = ("normal",)) -> dict:
    """Train every shape of Fig. 11 (the groups in `vary`, default all, only `values` of one group when given) over
    `seeds` seeds under each initialisation reading in `inits`; write the CSV and the evidence CSV, both
    with an `init` column. `learned` marks runs that learned an algorithm (`learned()`): a run on the chance
    plateau, or stopped near c_sigma = c_eta = 0, has a strategy reading but no algorithm."""
    t0 = time.time()
    inits = list(dict.fromkeys(inits))
    bad = [i for i in inits if i not in INITS]
    if bad or not inits:
        raise ValueError(f"--init {' '.join(bad)}: choose among {', '.join(INITS)}")
    points = fig11_points(vary, values)
    shapes = list(dict.fromkeys(tuple(s.values()) for _, s in points))  # unique (d, C, n), in order
    print(f"fig11: {len(shapes)} shapes x {seeds} seeds x init {', '.join(inits)}, "
          f"{steps or 'by d: ' + str(FIG11_STEPS)} steps, batch {batch}; "
          f"C = 3 and C = 8 use n = 120 (n = 100 is not a multiple of C)", file=sys.stderr)
    results = {}
    jobs = [(init, shape) for init in inits for shape in shapes]
    for i, (init, (d, C, n)) in enumerate(jobs):
        label = f"[{i + 1}/{len(jobs)}] {init} d={d} C={C} n={n}"
        res = sweep.sweep(fig11_config(d, C, n, steps, batch, init), range(seeds), on_progress=_printer(label))
        results[(init, d, C, n)] = res
        sel = sum(h[-1]["strategy"] == "selection" for h in res.histories)
        print(f"\r  {label}: selection {sel}/{seeds}, {res.elapsed_s:.0f} s" + " " * 30, file=sys.stderr)

    rows = []
    for init in inits:
        for group_name, s in points:
            res = results[(init, s["d"], s["C"], s["n"])]
            for cfg, h in zip(res.configs, res.histories):
                e = h[-1]
                rows.append({"vary": group_name, **s, "seed": cfg.seed, "strategy": e["strategy"],
                             "c_sigma": e["c_sigma"], "c_eta": e["c_eta"], "final_eval_loss": e["eval_loss"],
                             "learned": learned(e["eval_loss"], e["margin"], s["C"]), "init": init})
    write_csv(out, FIG11_WRITTEN, rows)

    evidence = []
    for (init, d, C, n), res in results.items():
        for cfg, h in zip(res.configs, res.histories):
            final, ok = h[-1]["strategy"], learned(h[-1]["eval_loss"], h[-1]["margin"], C)
            evidence += [{"d": d, "C": C, "n": n, "seed": cfg.seed, "step": e["step"], "strategy": e["strategy"],
                          "margin": e["margin"], "c_sigma": e["c_sigma"], "c_eta": e["c_eta"],
                          "eval_loss": e["eval_loss"], "final_strategy": final, "agrees": e["strategy"] == final,
                          "learned": ok, "init": init} for e in h]
    ev_path = out.with_name(out.stem + "_evidence.csv")
    write_csv(ev_path, FIG11_EVIDENCE_WRITTEN, evidence)

    print(f"\nproportion of selection over {seeds} seeds (95% Wilson interval) [among the runs that learned: eval "
          f"loss < {LEARNED:g} log C and strategy margin >= {DECIDED:g}]:")
    frame = pd.DataFrame(rows)
    for init in inits:
        if inits != ["normal"]:
            print(f" init {init}:")
        for vary, group in fig11_summary(frame[frame["init"] == init]).groupby("vary", sort=False):
            print("  " + ", ".join(f"{vary}={r.label}: {r.proportion:.2f} {_interval(r.selection, r.seeds)} "
                                   f"[{r.proportion_learned:.2f} {_interval(r.learned_selection, r.learned)} of "
                                   f"{r.learned_text}]" for r in group.itertuples()))
    agreement = {}  # by fraction of training done: the shapes train for different numbers of steps
    run = ("init", "d", "C", "n", "seed")
    last = {tuple(e[k] for k in run): e["step"] for e in evidence}
    for e in evidence:
        e["progress"] = round(e["step"] / max(1, last[tuple(e[k] for k in run)]), 3)
    for progress in sorted({e["progress"] for e in evidence}):
        at = [e for e in evidence if e["progress"] == progress]
        at_learned = [e for e in at if e["learned"]]
        agreement[progress] = (sum(e["agrees"] for e in at) / len(at),
                               sum(e["agrees"] for e in at_learned) / len(at_learned) if at_learned else float("nan"))
    print("strategy at each evaluation agreeing with the final one, all runs [runs that learned]:")
    print("  " + ", ".join(f"{100 * p:.0f}% of training: {100 * a:.0f}% [{100 * b:.0f}%]"
                           for p, (a, b) in agreement.items()))
    print(f"wrote {out} and {ev_path} in {time.time() - t0:.0f} s")
    return {"rows": rows, "evidence": evidence, "agreement": agreement}


def _interval(k: int, n: int) -> str:
    """k of n's 95% Wilson interval as printed beside the proportion."""
    lo, hi = wilson(k, n)
    return f"({lo:.2f}-{hi:.2f})" if n else "(-)"


def _fast_from_run(path: Path) -> tuple[TrainConfig, list[dict], str]:
    """The fast recipe's history from a saved run folder (engine.train's run store)."""
    config = TrainConfig.from_dict(read_json(path / "config.json"))
    status = read_json(path / "status.json") if (path / "status.json").is_file() else {}
    evals = read_json(path / "history.json")["evals"]
    return config, evals, status.get("status", "unknown")


def fig10(out: Path, steps: int = FIG10_STEPS, fast_steps: int | None = None, fast_run: Path | None = None,
          lrs=FIG10_LRS, lr_scale: float = FIG10_LR_SCALE, batch: int = FIG10_BATCH) -> list[dict]:
    """The paper's d = 10 recipe at four learning rates, each times `lr_scale`, at `batch` (one sweep, seed 0
    for all), and the converging fast recipe: read from `fast_run` (a run folder of that preset) when it
    exists, trained otherwise."""
    t0 = time.time()
    paper_full = PRESETS["paper-softmax-d10"]
    fast_full = PRESETS["fast-softmax-d10"]
    used = [lr * lr_scale for lr in lrs]
    paper = dataclasses.replace(paper_full, steps=steps, eval_every=max(1, steps // 150), lr=used[0], batch=batch)
    print(f"fig10: paper recipe (constant lr, init {paper.init_scale}, clip {paper.clip}) at its rates "
          f"{', '.join(f'{lr:g}' for lr in lrs)} times {lr_scale:g}, batch {batch} (paper: {paper_full.batch}): "
          f"{steps:,} steps (paper: {paper_full.steps:,})", file=sys.stderr)
    res_paper = sweep.sweep(paper, [0] * len(used), used, on_progress=_printer("paper"))
    print(file=sys.stderr)
    rows = [{"recipe": "paper-softmax-d10", "lr": cfg.lr, "paper_lr": paper_lr, "batch": batch, "step": e["step"],
             "c_sigma": e["c_sigma"], "c_eta": e["c_eta"], "eval_loss": e["eval_loss"],
             "recipe_steps": paper_full.steps}
            for cfg, paper_lr, h in zip(res_paper.configs, lrs, res_paper.histories) for e in h]
    write_csv(out, FIG10_COLUMNS, rows)  # the long part is kept even if the fast recipe's part fails

    if fast_run is not None and (fast_run / "history.json").is_file():
        fast, evals, status = _fast_from_run(fast_run)
        print(f"fast-softmax-d10: read {fast_run} ({status}, {evals[-1]['step']} of {fast.steps} steps)",
              file=sys.stderr)
    else:
        fast = dataclasses.replace(fast_full, steps=fast_steps or fast_full.steps)
        fast = dataclasses.replace(fast, eval_every=max(1, min(fast.eval_every, fast.steps // 40)))
        print(f"fast-softmax-d10: training {fast.steps} steps (batch {fast.batch})", file=sys.stderr)
        evals = sweep.sweep(fast, [fast.seed], on_progress=_printer("fast-softmax-d10")).histories[0]
        print(file=sys.stderr)
    rows += [{"recipe": "fast-softmax-d10", "lr": fast.lr, "paper_lr": float("nan"), "batch": fast.batch,
              "step": e["step"], "c_sigma": e["c_sigma"],
              "c_eta": e["c_eta"], "eval_loss": e["eval_loss"], "recipe_steps": fast.steps} for e in evals]
    write_csv(out, FIG10_COLUMNS, rows)
    for recipe in ("paper-softmax-d10", "fast-softmax-d10"):
        for lr in dict.fromkeys(r["lr"] for r in rows if r["recipe"] == recipe):
            e = [r for r in rows if r["recipe"] == recipe and r["lr"] == lr][-1]
            print(f"  {recipe} lr {lr:g}: step {e['step']} of {e['recipe_steps']:,}, c_sigma {e['c_sigma']:.3g}, "
                  f"c_eta {e['c_eta']:.3g}, eval loss {e['eval_loss']:.4f}")
    summary = fig10_summary(pd.DataFrame(rows))
    print("c_eta's growth per rate (flattened: first evaluation within 10% of its final value):")
    for r in summary.itertuples():
        left = "never left the plateau" if pd.isna(r.left_plateau_at) else \
            f"left the plateau at step {int(r.left_plateau_at):,}"
        print(f"  {r.recipe} lr {r.lr:g}: {left}, flattened at step "
              f"{r.flattened_at:,} (c_eta {r.c_eta_there:.3g}), final c_eta {r.final_c_eta:.3g}"
              f"{' (still growing)' if r.still_growing else ''}, final eval loss {r.final_eval_loss:.4f}")
    print(f"wrote {out} in {time.time() - t0:.0f} s")
    return rows


