"""The figures' tables: the columns of the CSV files `engine.figure_data` writes for Figs. 10 and 11, and their
reading (checked) and writing. What the tables say is in `engine.figure_analysis`."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

FIG11_COLUMNS = ["vary", "C", "d", "n", "seed", "strategy", "c_sigma", "c_eta", "final_eval_loss", "learned"]
FIG11_EVIDENCE_COLUMNS = ["d", "C", "n", "seed", "step", "strategy", "margin", "c_sigma", "c_eta", "eval_loss",
                          "final_strategy", "agrees", "learned"]
# What fig11 writes: the columns above (all a reader needs) and `init`, the initialisation's reading
# (`TrainConfig.init`); tables written before it existed lack it, and their runs all used "normal".
FIG11_WRITTEN = [*FIG11_COLUMNS, "init"]
FIG11_EVIDENCE_WRITTEN = [*FIG11_EVIDENCE_COLUMNS, "init"]
FIG10_COLUMNS = ["recipe", "lr", "paper_lr", "batch", "step", "c_sigma", "c_eta", "eval_loss", "recipe_steps"]


def read_table(path: Path, columns: Sequence[str], bools: Sequence[str] = ()) -> pd.DataFrame:
    """A table this module wrote, checked: ValueError when a column is missing, it has no rows, or it is not
    CSV text. Boolean columns are read from True/False (and 1/0, any case)."""
    try:
        frame = pd.read_csv(path)
    except UnicodeDecodeError as e:
        raise ValueError(f"{path.name} is not a text file ({e.reason})") from e
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise ValueError(f"{path.name} is not a CSV table ({e})") from e
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{path.name} lacks the column(s) {', '.join(missing)}")
    if frame.empty:
        raise ValueError(f"{path.name} has no rows")
    for c in bools:
        frame[c] = frame[c].astype(str).str.strip().str.lower().isin(("true", "1", "1.0"))
    return frame


def write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    """A table with exactly `columns`, written whole (extra fields of the rows are left out)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
