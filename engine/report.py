"""The table of pretrained runs in pretrained/README.md, written from the runs themselves.

    python -m engine.report pretrained
"""

from __future__ import annotations

import sys
from pathlib import Path

from engine.runs import RunError, list_runs, load_run

HEADER = (
    "| run | preset | steps | wall time | final eval loss | closed-form optimum | gap | converged | c_sigma | c_eta |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


def row(path: Path) -> str:
    run = load_run(path)
    last = run.history["evals"][-1]
    yard = run.history["yardsticks"][run.config.yardstick]
    v = run.verdict
    return (f"| {run.name} | {run.config.preset} | {last['step']:,} | {last['elapsed_s'] / 60:.1f} min | "
            f"{last['eval_loss']:.4f} | {yard['loss']:.4f} ({yard['method']}) | {100 * v['gap']:+.2f}% | "
            f"{'yes' if v['converged'] else 'no'} | {last['c_sigma']:.3g} | {last['c_eta']:.3g} |")


def table(root: Path) -> str:
    lines = [HEADER]
    for path in list_runs(root):
        try:
            lines.append(row(path))
        except RunError as e:
            lines.append(f"| {path.name} | unreadable: {e} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(Path(sys.argv[1] if len(sys.argv) > 1 else "pretrained")))
