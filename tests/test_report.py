"""engine.report: the tables of pretrained/README.md, written from run folders (the session's `tiny_run`, and
construction runs made by hand for the strategy examples)."""

import dataclasses
import json
import shutil

import jax.numpy as jnp
import pytest

from engine import constructions, report, runs
from engine.config import PRESETS
from engine.state import init_state


def cells(line: str) -> list[str]:
    assert line.startswith("| ") and line.endswith(" |")
    return [c.strip() for c in line[1:-1].split("|")]


def example_run(path, c_sigma, c_eta, seed):
    """A finished fig11-d2-C2 run whose weights are the softmax construction at (c_sigma, c_eta)."""
    cfg = dataclasses.replace(PRESETS["fig11-d2-C2"], steps=10, eval_every=10, seed=seed)
    state = init_state(cfg)
    con = constructions.softmax_construction(cfg.task, c_eta, c_sigma)
    state["params"] = {k: jnp.asarray(con[k], v.dtype) for k, v in state["params"].items()}
    mngr = runs.checkpoint_manager(path)
    runs.save_state(mngr, cfg.steps, state)
    mngr.close()
    runs.write_json(path / "config.json", cfg.to_dict())
    runs.write_json(path / "history.json", {"evals": [{"step": 10, "eval_loss": 0.25, "c_sigma": c_sigma,
                                                       "c_eta": c_eta, "elapsed_s": 3.0}], "snapshots": []})
    runs.write_json(path / "status.json", {"status": "finished", "verdict": {}, "message": ""})


@pytest.fixture(scope="module")
def root(tiny_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrained")
    shutil.copytree(tiny_run.path, root / "a-setting")
    example_run(root / "fig11-seed0", 8.0, 6.0, seed=0)
    example_run(root / "fig11-seed1", -8.0, -6.0, seed=1)
    return root


def test_settings_table_row_from_the_run(root, tiny_run):
    lines = report.table(root).splitlines()
    assert "\n".join(lines[:2]) == report.HEADER
    assert len(lines) == 3  # the examples are not settings
    row = cells(lines[2])
    last = tiny_run.history["evals"][-1]
    yard = tiny_run.history["yardsticks"]["adaptive"]
    v = tiny_run.verdict
    assert row == ["a-setting", "softmax", "300", f"{last['elapsed_s'] / 60:.1f} min", f"{last['eval_loss']:.4f}",
                   f"{yard['loss']:.4f} (eq. 1)", f"{100 * v['gap']:+.2f}%", "yes" if v["converged"] else "no",
                   f"{last['c_sigma']:.3g}", f"{last['c_eta']:.3g}", str(len(tiny_run.history["snapshots"]))]
    assert len(tiny_run.history["snapshots"]) >= tiny_run.config.max_snapshots


def test_examples_table_reads_the_strategy_off_the_weights(root):
    lines = report.table(root, examples=True).splitlines()
    assert "\n".join(lines[:2]) == report.EXAMPLES_HEADER
    rows = [cells(line) for line in lines[2:]]
    assert rows == [["fig11-seed0", "fig11-d2-C2", "0", "10", "0.2500", "selection", "8", "6"],
                    ["fig11-seed1", "fig11-d2-C2", "1", "10", "0.2500", "elimination", "-8", "-6"]]


def test_an_unreadable_run_is_listed_once(root, tmp_path):
    shutil.copytree(root, tmp_path / "r")
    (tmp_path / "r" / "broken").mkdir()
    (tmp_path / "r" / "broken" / "config.json").write_text(json.dumps({"preset": "fast-x"}))
    settings = report.table(tmp_path / "r")
    assert "| broken | unreadable: broken: missing history.json |" in settings
    assert "broken" not in report.table(tmp_path / "r", examples=True)
    (tmp_path / "r" / "fig11-seed0" / "history.json").write_text("{oops")
    assert "fig11-seed0" not in report.table(tmp_path / "r", examples=True)  # examples skip what they cannot read
    assert report.table(tmp_path / "empty") == report.HEADER


def test_kernel_table_reads_each_kernel_run_as_eq3(root, tmp_path):
    """A kernel run whose weights are the kernel construction at (sigma2 = 1, eta) reads back exactly those
    constants, and eq. 3 there predicts as the layer does (preds diff ~ 0); runs of other kinds are not listed."""
    assert report.kernel_table(root) == report.KERNEL_HEADER
    cfg = dataclasses.replace(PRESETS["fast-kernel-d3"], steps=10, eval_every=10)
    path = tmp_path / "fast-kernel-d3"
    state = init_state(cfg)
    con = constructions.kernel_construction(cfg.task, 120.0)
    state["params"] = {k: jnp.asarray(con[k], v.dtype) for k, v in state["params"].items()}
    mngr = runs.checkpoint_manager(path)
    runs.save_state(mngr, cfg.steps, state)
    mngr.close()
    runs.write_json(path / "config.json", cfg.to_dict())
    runs.write_json(path / "history.json", {"evals": [{"step": 10, "eval_loss": 0.4}], "snapshots": []})
    runs.write_json(path / "status.json", {"status": "finished", "verdict": {}, "message": ""})
    k = report.kernel_reading(path)
    assert (k["sigma2"], k["eta"]) == pytest.approx((1.0, 120.0), rel=1e-6) and k["preds_diff"] < 1e-5
    assert k["preds_diff_fit"] > 1e-3  # eq. 3 at its fit (sigma^2 ~ 0.13) is another learner
    (line,) = report.kernel_table(tmp_path).splitlines()[2:]
    assert cells(line)[:4] == ["fast-kernel-d3", "3", "1", "120"]
