"""The tables of pretrained runs in pretrained/README.md, written from the runs themselves.

    python -m engine report pretrained

Runs of the `fast-*` presets (one per setting and softmax variant, judged by the convergence criterion of
docs/science.md section 8) and the strategy examples of the `fig11-*` presets (short runs of the Fig. 11
sweep; what matters there is which algorithm the seed learned, docs/science.md section 7).
"""

from __future__ import annotations

from pathlib import Path

from engine.closed_form import NAMES
from engine.config import TrainConfig
from engine.runs import RunError, list_runs, load_run, read_json

HEADER = (
    "| run | model | steps | wall time | final eval loss | closed-form optimum | gap | converged | c_sigma | c_eta |"
    " A/B snapshots |\n|---|---|---|---|---|---|---|---|---|---|---|"
)
KERNEL_HEADER = (
    "| run | d | sigma^2 read off | eta read off | eq. 3 fit: sigma^2 | eta | preds diff: read off | at the fit |\n"
    "|---|---|---|---|---|---|---|---|"
)
EXAMPLES_HEADER = (
    "| run | preset | seed | steps | final eval loss | strategy | c_sigma | c_eta |\n"
    "|---|---|---|---|---|---|---|---|"
)


def summary(path: Path) -> dict:
    """A shipped run in numbers, from its JSON files alone (no weights restored): what the table shows."""
    config = TrainConfig.from_dict(read_json(path / "config.json"))
    history = read_json(path / "history.json")
    status = read_json(path / "status.json")
    if not history.get("evals"):
        raise RunError(f"{path.name} has no evaluations")
    last, v = history["evals"][-1], status.get("verdict", {})
    yard = history["yardsticks"][config.yardstick]
    return {"run": path.name, "model": config.variant, "d": config.d, "steps": int(last["step"]),
            "minutes": last["elapsed_s"] / 60, "final eval loss": last["eval_loss"], "optimum": yard["loss"],
            "closed form": NAMES[config.yardstick], "gap": v.get("gap", float("nan")),
            "converged": bool(v.get("converged")), "c_sigma": last["c_sigma"], "c_eta": last["c_eta"],
            "snapshots": len(history.get("snapshots", []))}


def row(path: Path) -> str:
    s = summary(path)
    return (f"| {s['run']} | {s['model']} | {s['steps']:,} | {s['minutes']:.1f} min | {s['final eval loss']:.4f} | "
            f"{s['optimum']:.4f} ({s['closed form']}) | {100 * s['gap']:+.2f}% | "
            f"{'yes' if s['converged'] else 'no'} | {s['c_sigma']:.3g} | {s['c_eta']:.3g} | {s['snapshots']} |")


def example_row(path: Path) -> str:
    from engine.extract import strategy

    run = load_run(path)
    last = run.history["evals"][-1]
    name, _ = strategy(run.params, run.config.task)
    return (f"| {run.name} | {run.config.preset} | {run.config.seed} | {last['step']:,} | {last['eval_loss']:.4f} | "
            f"{name} | {last['c_sigma']:.3g} | {last['c_eta']:.3g} |")


def kernel_reading(path: Path, N: int = 500) -> dict:
    """A kernel attention run read as kernel GD (eq. 3): the constants read off its weights and eq. 3's fit, and
    the preds diff of eq. 3 at each against the layer on N fresh contexts (`extract.kernel_reading`)."""
    import jax

    from engine import extract, fitted
    from engine.tasks import sample_contexts

    run = load_run(path)
    task = run.config.task
    ctx = sample_contexts(jax.random.key(7), task, N)
    consts, rows = extract.kernel_reading(run.params, ctx, factors=(1.0,))
    fit = fitted.fitted("kernel_gd", task).refined
    at_fit = extract.check_constants({k: jax.numpy.asarray(v) for k, v in run.params.items()}, ctx, "kernel",
                                     "kernel_gd", fit, factors=(1.0,))[0]["preds_diff"]
    return {"run": path.name, "d": task.d, **consts, "fit_sigma2": fit["sigma2"], "fit_eta": fit["eta"],
            "preds_diff": rows[0]["preds_diff"], "preds_diff_fit": at_fit}


def kernel_table(root: Path) -> str:
    """The kernel attention runs read as eq. 3 (`kernel_reading`), one row each."""
    lines = [KERNEL_HEADER]
    for path in list_runs(root):
        if read_json(path / "config.json").get("kind") != "kernel":
            continue
        k = kernel_reading(path)
        lines.append(f"| {k['run']} | {k['d']} | {k['sigma2']:.4g} | {k['eta']:.4g} | {k['fit_sigma2']:.4g} | "
                     f"{k['fit_eta']:.4g} | {k['preds_diff']:.4f} | {k['preds_diff_fit']:.4f} |")
    return "\n".join(lines)


def table(root: Path, examples: bool = False) -> str:
    """The settings' table, or with `examples` the strategy examples' table."""
    lines = [EXAMPLES_HEADER if examples else HEADER]
    for path in list_runs(root):
        try:
            if str(read_json(path / "config.json").get("preset", "")).startswith("fig11-") != examples:
                continue
            lines.append(example_row(path) if examples else row(path))
        except RunError as e:
            if not examples:  # listed once, in the settings' table
                lines.append(f"| {path.name} | unreadable: {e} |")
    return "\n".join(lines)
