"""engine.cli: the command lines. Problems are one line and exit 1 (never a traceback), usage errors exit 2,
Ctrl-C exits 130; a run is resumed from its own config; progress in a log is plain lines."""

import dataclasses
import io
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from engine import cli, report, train
from engine.config import PRESETS
from engine.runs import load_run, read_json

ROOT = Path(__file__).resolve().parent.parent


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err
    return lines[0]


def test_list_and_no_arguments(capsys):
    assert cli.train_main(["--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in PRESETS) and "softmax, query among its keys" in out
    assert cli.train_main([]) == 2
    cap = capsys.readouterr()
    assert "give --preset NAME" in cap.err and all(name in cap.out for name in PRESETS)
    assert cli.train_main(["--out", "somewhere"]) == 2  # --out alone is neither a new run nor a resume
    capsys.readouterr()


def test_unknown_preset_is_one_line(capsys, tmp_path):
    assert cli.train_main(["--preset", "nope", "--out", str(tmp_path / "r")]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "unknown preset 'nope'" in line and "fast-softmax-d3" in line
    assert not (tmp_path / "r").exists()


def test_out_below_a_file_is_one_line(capsys, tmp_path):
    (tmp_path / "f").write_text("")
    assert cli.train_main(["--preset", "fast-softmax-d3", "--out", str(tmp_path / "f" / "run")]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "is a file, not a folder" in line and str(tmp_path / "f") in line


def test_resume_problems_are_one_line(capsys, tmp_path, tiny_run):
    (tmp_path / "empty").mkdir()
    assert cli.train_main(["--resume", "--out", str(tmp_path / "empty")]) == 1
    assert "holds no run (no config.json)" in one_error_line(capsys.readouterr().err)
    assert cli.train_main(["--resume", "--out", str(tiny_run.path), "--preset", "fast-softmax-d3"]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "was made with preset '(none)', not 'fast-softmax-d3'" in line
    assert cli.train_main(["--resume", "--out", str(tiny_run.path), "--seed", "99"]) == 1
    assert "only --steps may change" in one_error_line(capsys.readouterr().err)
    assert load_run(tiny_run.path).config == tiny_run.config  # nothing written


def test_train_config_for_new_and_resumed_runs(tiny_run, tmp_path):
    got = cli.train_config("fast-softmax-d3", tmp_path / "new", False, 10, 4)
    assert got == dataclasses.replace(PRESETS["fast-softmax-d3"], steps=10, seed=4)
    assert cli.train_config("fast-softmax-d3", tmp_path / "new", False, None, None) == PRESETS["fast-softmax-d3"]
    saved = cli.train_config(None, tiny_run.path, True, None, None)
    assert saved == tiny_run.config and saved.preset == ""
    assert cli.train_config(None, tiny_run.path, True, 500, tiny_run.config.seed).steps == 500


def test_resume_continues_a_run_from_its_own_config(capsys, tiny_run, tmp_path):
    """A run without a preset, stopped at step 200, resumed by `--resume --out RUN`: it ends where the
    uninterrupted run ends."""
    stop = threading.Event()

    def stop_at_200(info):
        if info["step"] >= 200:
            stop.set()

    path = tmp_path / "part"
    train.train(tiny_run.config, path, on_progress=stop_at_200, stop_event=stop)
    capsys.readouterr()
    assert cli.train_main(["--resume", "--out", str(path)]) == 0
    cap = capsys.readouterr()
    assert cap.out.startswith("finished: eval loss")
    assert "device: " in cap.err and f"resuming {path.name}: softmax" in cap.err and "Traceback" not in cap.err
    assert "step 300/300" in cap.err  # the log line of the last tenth
    run = load_run(path)
    assert run.status == "finished" and run.config == tiny_run.config
    for k in run.params:
        np.testing.assert_array_equal(run.params[k], tiny_run.params[k])


def test_resume_with_more_steps(capsys, tiny_run, tmp_path):
    path = tmp_path / "longer"
    shutil.copytree(tiny_run.path, path)
    assert cli.train_main(["--resume", "--out", str(path), "--steps", "400"]) == 0
    capsys.readouterr()
    assert read_json(path / "config.json")["steps"] == 400
    assert load_run(path).history["evals"][-1]["step"] == 400


def info(step, total=100, loss=1.1, yard=1.0):
    return {"step": step, "steps": total, "eval": {"eval_loss": loss, "c_sigma": 3.0, "c_eta": 2.0},
            "yardstick_loss": yard, "elapsed_s": 12.0}


def test_progress_in_a_log_is_one_plain_line_per_tenth():
    stream = io.StringIO()
    show = cli.progress_reporter(100, stream=stream)
    for step in range(5, 101, 5):
        show(info(step))
    text = stream.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert [line.split()[1] for line in lines] == [f"{s}/100" for s in range(10, 101, 10)]
    assert lines[-1] == "step 100/100 eval 1.1000 gap +10.00% c_sigma 3 c_eta 2 elapsed 12 s"
    # Resumed at step 50: nothing until the next tenth.
    stream = io.StringIO()
    show = cli.progress_reporter(100, initial=50, stream=stream)
    for step in (55, 60, 65, 100):
        show(info(step))
    assert [line.split()[1] for line in stream.getvalue().splitlines()] == ["60/100", "100/100"]


def test_progress_on_a_terminal_is_a_bar():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    show = cli.progress_reporter(100, stream=stream)
    for step in (10, 100):
        show(info(step))
    text = stream.getvalue()
    assert "\r" in text and "100/100" in text and "gap +10.00%" in text


def test_guard_turns_problems_into_exit_codes(capsys):
    def interrupted():
        raise KeyboardInterrupt

    def broken():
        raise ValueError("bad value")

    assert cli._guard(interrupted, "kept") == 130
    assert "interrupted: kept" in capsys.readouterr().err
    assert cli._guard(broken, "") == 1
    assert one_error_line(capsys.readouterr().err) == "error: bad value"
    assert cli._guard(lambda: 0, "") == 0


def test_other_commands_report_problems_in_one_line(capsys, tmp_path):
    assert cli.fitted_main(["--out", str(tmp_path), "--settings", "3,5,101"]) == 1
    device, rest = capsys.readouterr().err.split("\n", 1)
    assert device.startswith("device: cpu") or device.startswith("device: ")
    assert "divisible by C" in one_error_line(rest)
    assert not list(tmp_path.iterdir())
    with pytest.raises(SystemExit) as e:
        cli.figure_data_main([])
    assert e.value.code == 2
    capsys.readouterr()
    out = tmp_path / "fig11.csv"
    assert cli.figure_data_main(["fig11", "--vary", "C", "d", "--values", "2", "--out", str(out)]) == 1
    assert "--values restricts one group" in one_error_line(capsys.readouterr().err.split("\n", 1)[1])
    assert cli.figure_data_main(["fig11", "--vary", "C", "--values", "4", "--out", str(out)]) == 1
    assert "not a point of Fig. 11" in one_error_line(capsys.readouterr().err.split("\n", 1)[1])
    assert not out.exists()
    with pytest.raises(SystemExit) as e:
        cli.figure_data_main(["fig11", "--init", "glorot"])
    assert e.value.code == 2 and "invalid choice: 'glorot'" in capsys.readouterr().err


def test_report_main_prints_every_table(capsys, tmp_path):
    assert cli.report_main([str(tmp_path)]) == 0
    # no runs: the headers
    assert capsys.readouterr().out == f"{report.HEADER}\n\n{report.EXAMPLES_HEADER}\n\n{report.KERNEL_HEADER}\n"


def test_python_m_engine_train_without_arguments():
    """`python -m engine` is the one entry (a subprocess: the entry point as users run it)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "engine", "train"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and "give --preset NAME" in proc.stderr and "fast-softmax-d10" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_engine_main_dispatches_and_lists_its_commands(capsys):
    from engine.__main__ import COMMANDS, main

    assert main([]) == 0
    usage = capsys.readouterr().err
    assert all(f"python -m engine {c}" in usage for c in COMMANDS)
    assert main(["nonsense"]) == 2 and "unknown command 'nonsense'" in capsys.readouterr().err
    assert main(["report", "/nonexistent-root"]) == cli.report_main(["/nonexistent-root"])
