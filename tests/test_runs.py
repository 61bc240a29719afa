"""engine.runs: the run store. JSON written atomically, problems as RunError naming the file, runs saved
before the current options read as they were made. Run folders are made by hand (a checkpoint of an
initial state, no training) or copied from the session's `tiny_run`."""

import dataclasses
import json
import shutil

import jax
import numpy as np
import pytest

from engine import runs
from engine.config import TrainConfig
from engine.runs import RunError, list_runs, load_run, read_json, write_json
from engine.state import init_state

CFG = TrainConfig(kind="softmax", d=2, C=2, n=4, steps=10, eval_every=10, seed=1)


def make_run(path, config=CFG, history=None, status=None, config_dict=None):
    """A run folder by hand: config.json, history.json, status.json and a checkpoint of step 0."""
    state = init_state(config)
    mngr = runs.checkpoint_manager(path)
    runs.save_state(mngr, 0, state)
    mngr.close()
    write_json(path / "config.json", config.to_dict() if config_dict is None else config_dict)
    write_json(path / "history.json", history if history is not None else {"evals": [], "snapshots": []})
    if status is not None:
        write_json(path / "status.json", status)
    return state


def test_write_json_is_atomic_and_round_trips(tmp_path):
    path = tmp_path / "deep" / "er" / "x.json"
    obj = {"a": [1, 2.5, None], "b": {"c": "d"}, "e": 1e-300}
    write_json(path, obj)
    assert read_json(path) == obj and json.loads(path.read_text()) == obj
    write_json(path, {"new": True})
    assert read_json(path) == {"new": True}
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]  # no temporary file left behind
    # A write that fails half-way leaves the previous file whole.
    with pytest.raises(TypeError):
        write_json(path, {"bad": object()})
    assert read_json(path) == {"new": True}


def test_read_json_names_the_file_and_the_problem(tmp_path):
    run = tmp_path / "myrun"
    run.mkdir()
    with pytest.raises(RunError, match="^myrun: missing history.json$"):
        read_json(run / "history.json")
    (run / "history.json").write_text("{not json")
    with pytest.raises(RunError, match="^myrun: history.json is corrupt") as e:
        read_json(run / "history.json")
    assert "Expecting property name" in str(e.value)  # json's reason, without a traceback
    (run / "status.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(RunError, match="status.json is corrupt"):
        read_json(run / "status.json")


def test_list_runs(tmp_path):
    assert list_runs(tmp_path / "nowhere") == []
    for name in ("b", "a", "c"):
        (tmp_path / name).mkdir()
    (tmp_path / "a" / "config.json").write_text("{}")
    (tmp_path / "c" / "config.json").write_text("{}")
    (tmp_path / "file.json").write_text("{}")
    assert [p.name for p in list_runs(tmp_path)] == ["a", "c"]  # folders with a config.json, sorted
    assert [p.name for p in list_runs(str(tmp_path))] == ["a", "c"]


def test_load_run_reads_config_history_status_and_weights(tmp_path):
    status = {"status": "finished", "verdict": {"converged": True}, "message": "done"}
    state = make_run(tmp_path / "r", history={"evals": [{"step": 0}], "snapshots": []}, status=status)
    run = load_run(tmp_path / "r")
    assert run.name == "r" and run.config == CFG and run.status == "finished" and run.message == "done"
    assert run.converged and run.verdict == {"converged": True} and run.history["evals"] == [{"step": 0}]
    assert set(run.params) == {"W_Q", "W_K", "W_V", "W_O"}
    for k, v in run.params.items():
        assert isinstance(v, np.ndarray)
        np.testing.assert_array_equal(v, state["params"][k])
    # Without a status file the run is "unknown", not an error.
    (tmp_path / "r" / "status.json").unlink()
    run = load_run(tmp_path / "r")
    assert run.status == "unknown" and not run.converged and run.message == ""


def test_old_config_without_query_in_keys_loads_as_the_query_among_its_keys(tmp_path):
    old = CFG.to_dict()
    del old["query_in_keys"], old["max_snapshots"]
    make_run(tmp_path / "old", config=dataclasses.replace(CFG, query_in_keys=True), config_dict=old)
    run = load_run(tmp_path / "old")
    assert run.config.query_in_keys is True and run.config.max_snapshots == 60
    assert run.config.yardstick == "adaptive_self_key"
    assert run.config == dataclasses.replace(CFG, query_in_keys=True, max_snapshots=60)


def test_upgrade_history_renames_plain_to_other():
    history = {"evals": [{"step": 0, "preds_diff": 0.1, "preds_diff_plain": 0.2, "cos_sim_plain": 0.9,
                          "model_diff_plain": 0.3}, {"step": 1, "eval_loss": 1.0}], "snapshots": []}
    got = runs.upgrade_history(history)
    assert got["evals"][0] == {"step": 0, "preds_diff": 0.1, "preds_diff_other": 0.2, "cos_sim_other": 0.9,
                               "model_diff_other": 0.3}
    assert got["evals"][1] == {"step": 1, "eval_loss": 1.0}
    assert runs.upgrade_history({}) == {}
    assert runs.upgrade_history(got) == got  # idempotent


def test_load_run_upgrades_an_old_history(tmp_path):
    make_run(tmp_path / "r", history={"evals": [{"step": 0, "cos_sim_plain": 0.5}], "snapshots": []})
    assert load_run(tmp_path / "r").history["evals"] == [{"step": 0, "cos_sim_other": 0.5}]
    assert read_json(tmp_path / "r" / "history.json")["evals"] == [{"step": 0, "cos_sim_plain": 0.5}]  # file untouched


def test_missing_corrupt_and_mismatched_runs_are_refused(tmp_path):
    with pytest.raises(RunError, match="nothing: no such run folder"):
        load_run(tmp_path / "nothing")
    make_run(tmp_path / "r")
    path = tmp_path / "r"
    (path / "history.json").write_text("{not json")
    with pytest.raises(RunError, match="history.json is corrupt"):
        load_run(path)
    (path / "history.json").write_text("{}")
    cfg = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**cfg, "heads": 2}))
    with pytest.raises(RunError, match="config.json is not a valid training config"):
        load_run(path)
    (path / "config.json").write_text(json.dumps({**cfg, "n": 5}))
    with pytest.raises(RunError, match="config.json is not a valid training config.*divisible"):
        load_run(path)
    (path / "config.json").write_text(json.dumps({**cfg, "d": 4}))  # valid, but not the checkpoint's shape
    with pytest.raises(RunError, match="checkpoint cannot be restored"):
        load_run(path)
    (path / "config.json").unlink()
    with pytest.raises(RunError, match="missing config.json"):
        load_run(path)


def test_restore_state_problems(tmp_path):
    template = jax.eval_shape(lambda: init_state(CFG))
    (tmp_path / "r").mkdir()
    with pytest.raises(RunError, match="no checkpoints folder"):
        runs.restore_state(tmp_path / "r", template)
    (tmp_path / "r" / "checkpoints").mkdir()
    with pytest.raises(RunError, match="holds no checkpoint"):
        runs.restore_state(tmp_path / "r", template)


def test_restore_gives_back_the_saved_state_and_chosen_step(tmp_path):
    state = init_state(CFG)
    later = dict(state, step=state["step"] + 7, params={k: v + 1 for k, v in state["params"].items()})
    mngr = runs.checkpoint_manager(tmp_path)
    runs.save_state(mngr, 0, state)
    runs.save_state(mngr, 7, later)
    mngr.close()
    template = jax.eval_shape(lambda: init_state(CFG))
    step, got = runs.restore_state(tmp_path, template)
    assert step == 7 and int(got["step"]) == 7
    for u, v in zip(jax.tree.leaves(got), jax.tree.leaves(later), strict=True):  # params, Adam, key, step
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))
    step, got = runs.restore_state(tmp_path, template, step=0)
    assert step == 0
    np.testing.assert_array_equal(got["params"]["W_Q"], state["params"]["W_Q"])


def test_a_trained_run_loads_as_it_finished(tiny_run, tmp_path):
    path = tmp_path / "copy"
    shutil.copytree(tiny_run.path, path)
    run = load_run(path)
    assert run.config == tiny_run.config and run.status == tiny_run.status == "finished"
    assert run.history == tiny_run.history and run.verdict == tiny_run.verdict
    for k in run.params:
        np.testing.assert_array_equal(run.params[k], tiny_run.params[k])
    kept = sorted(int(p.name) for p in (path / "checkpoints").iterdir() if p.name.isdigit())
    assert kept[-1] == 300 and len(kept) <= 2  # the final state, whatever the time between checkpoints
