"""Fixture tables of the Strategies page's sweep CSVs (fig11.csv, fig11_evidence.csv, fig10.csv), shared by
the chart builder tests (test_sweep_charts.py) and the page tests (test_strategies.py)."""

from __future__ import annotations

import pandas as pd

from engine import figure_analysis, figure_data, figure_tables

BASE = figure_analysis.FIG11_BASE


def fig11_frame() -> pd.DataFrame:
    """Four seeds per point; strategies and `learned` chosen so every proportion differs."""
    rows = []
    points = [("C", {"d": 2, "C": 2, "n": 100}), ("C", {"d": 2, "C": 3, "n": 120}), ("C", dict(BASE)),
              ("d", dict(BASE)), ("d", {"d": 3, "C": 5, "n": 100}), ("n", {"d": 2, "C": 5, "n": 20}), ("n", dict(BASE))]
    for i, (vary, shape) in enumerate(points):
        for seed in range(4):
            sel = (seed + i) % 3 != 0
            rows.append({"vary": vary, **shape, "seed": seed, "strategy": "selection" if sel else "elimination",
                         "c_sigma": (1 if sel else -1) * (1 + seed), "c_eta": (1 if sel else -1) * (2 + seed),
                         "final_eval_loss": 0.5, "learned": seed < 1 + i % 4})
    return pd.DataFrame(rows)[figure_tables.FIG11_COLUMNS]


def evidence_frame() -> pd.DataFrame:
    rows = []
    for shape in ({"d": 2, "C": 2, "n": 100}, dict(BASE)):
        for seed in range(3):
            final = "selection" if seed else "elimination"
            for k, step in enumerate((0, 10, 20, 30)):
                strategy = final if k >= seed + (shape["C"] == 2) else "flip"
                rows.append({**shape, "seed": seed, "step": step, "strategy": strategy, "margin": 0.1, "c_sigma": 1.0,
                             "c_eta": 1.0, "eval_loss": 1.0, "final_strategy": final, "agrees": strategy == final,
                             "learned": seed != 1})
    return pd.DataFrame(rows)[figure_tables.FIG11_EVIDENCE_COLUMNS]


def fig10_frame() -> pd.DataFrame:
    rows = []
    for lr in figure_data.FIG10_LRS:
        for step in range(0, 201, 50):
            rows.append({"recipe": "paper-softmax-d10", "lr": 25 * lr, "paper_lr": lr, "batch": 256, "step": step,
                         "c_sigma": lr * step - 1e-6,
                         "c_eta": 10 * lr * step + 1e-4, "eval_loss": 1.6, "recipe_steps": 2_000_000})
    for step in range(0, 901, 300):
        rows.append({"recipe": "fast-softmax-d10", "lr": 0.02, "paper_lr": float("nan"), "batch": 2048, "step": step,
                     "c_sigma": 1 + step / 100,
                     "c_eta": 2 + step, "eval_loss": 1.0, "recipe_steps": 900})
    return pd.DataFrame(rows)[figure_tables.FIG10_COLUMNS]
