"""ui.jobs: training jobs and sweeps in worker threads, one at a time, with stand-ins for the trainer and the
sweeper that hold their slot until the test releases or stops them. Every wait is on an event the stand-ins or
the registry's slot set, or on a job's thread ending; none is a sleep followed by an assertion."""

from __future__ import annotations

import collections
import dataclasses
import threading
import types
from pathlib import Path

import pytest

from engine.config import TrainConfig
from engine.sweep import SweepResult
from ui import jobs

TIMEOUT = 20.0


@dataclasses.dataclass
class FakeRun:
    status: str
    verdict: dict
    message: str


class WatchedSlots(threading.Semaphore):
    """The registry's slots, telling which worker thread has been refused one (waited and did not get it)."""

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.refused: dict[str, threading.Event] = collections.defaultdict(threading.Event)

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        got = super().acquire(blocking, timeout)
        if not got:
            self.refused[threading.current_thread().name].set()
        return got


class Trainer:
    """Stands in for engine.train.train. Reports step 1 (an evaluation, a verdict, a yardstick), then waits until
    the test releases the run (it then reports its last step and returns `outcome`) or stops it. Records who ran,
    in which order, and how many at once."""

    def __init__(self, outcome: str = "finished") -> None:
        self.outcome = outcome
        self.started: dict[str, threading.Event] = collections.defaultdict(threading.Event)
        self.release: dict[str, threading.Event] = collections.defaultdict(threading.Event)
        self.entered = threading.Semaphore(0)  # released once per run that starts
        self.calls: list[tuple[str, bool]] = []
        self.running = self.most_at_once = 0
        self.lock = threading.Lock()

    def __call__(self, config, path, *, resume=False, on_progress=None, stop_event=None):
        name = Path(path).name
        with self.lock:
            self.calls.append((name, resume))
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            on_progress({"step": 1, "steps": config.steps, "eval": {"step": 1, "eval_loss": 1.0},
                         "verdict": {"converged": False}, "yardstick_loss": 0.5})
            self.started[name].set()
            self.entered.release()
            while not self.release[name].wait(0.005):
                if stop_event.is_set():
                    return FakeRun("stopped", {"converged": False}, "stopped at step 1")
            on_progress({"step": config.steps, "steps": config.steps, "eval": {"step": config.steps,
                                                                                 "eval_loss": 0.1}})
            return FakeRun(self.outcome, {"converged": self.outcome == "finished"}, f"{self.outcome}: {name}")
        finally:
            with self.lock:
                self.running -= 1


def ended(job, prefix: str = "train") -> None:
    """Wait for the job's worker thread to end (the job is then in its final state)."""
    for t in [t for t in threading.enumerate() if t.name == f"{prefix}-{job.name}"]:
        t.join(TIMEOUT)
        assert not t.is_alive(), f"{job.name} still working"
    assert not job.active, job.state


def registry(trainer=None, sweeper=None, parallel: int = 1) -> tuple[jobs.JobRegistry, WatchedSlots]:
    reg = jobs.JobRegistry(parallel=parallel, trainer=trainer, sweeper=sweeper)
    reg.slots = WatchedSlots(parallel)
    return reg, reg.slots


def started(trainer: Trainer, name: str) -> None:
    assert trainer.started[name].wait(TIMEOUT), f"{name} never started"


def refused(slots: WatchedSlots, job, prefix: str = "train") -> None:
    assert slots.refused[f"{prefix}-{job.name}"].wait(TIMEOUT), f"{job.name} never waited for the slot"


CFG = TrainConfig(steps=10)


def one_running(tmp_path, *queued: str):
    """A registry whose job "a" holds the one slot, and `queued` jobs that have waited for it: (fake trainer,
    registry, slots, a, the queued jobs)."""
    fake = Trainer()
    reg, slots = registry(fake)
    a = reg.submit(CFG, tmp_path / "a")
    started(fake, "a")
    waiting = [reg.submit(CFG, tmp_path / name) for name in queued]
    for job in waiting:
        refused(slots, job)
    return fake, reg, slots, a, waiting


# ---------------------------------------------------------------- one at a time, queue, listing


def test_one_job_at_a_time_with_queue_positions(tmp_path):
    fake, reg, slots, a, (b, c) = one_running(tmp_path, "b", "c")  # both wait for the slot a holds: queued
    assert (a.state, b.state, c.state) == ("running", "queued", "queued")
    assert [reg.queue_position(j) for j in (a, b, c)] == [0, 1, 2]
    assert fake.calls == [("a", False)]
    assert reg.busy() and {j.name for j in reg.active()} == {"a", "b", "c"}
    assert [j.name for j in reg.all()] == ["c", "b", "a"]  # newest first

    fake.release["a"].set()
    assert fake.entered.acquire(timeout=TIMEOUT)  # a's start
    assert fake.entered.acquire(timeout=TIMEOUT)  # the next one's start
    ended(a)
    assert a.state == "finished" and a.verdict == {"converged": True} and a.message == "finished: a"
    first, second = (b, c) if fake.started["b"].is_set() else (c, b)
    slots.refused[f"train-{second.name}"].clear()
    refused(slots, second)  # refused again while the other trains
    assert (first.state, second.state) == ("running", "queued") and reg.queue_position(second) == 1
    assert reg.queue_position(first) == 0
    fake.release[first.name].set()
    started(fake, second.name)
    fake.release[second.name].set()
    ended(b)
    ended(c)
    assert (b.state, c.state) == ("finished", "finished")
    assert fake.most_at_once == 1 and not reg.busy() and reg.active() == []
    assert [j.name for j in reg.all()] == ["c", "b", "a"]
    assert slots.acquire(timeout=1)  # every slot given back


def test_parallel_two_runs_two_at_once(tmp_path):
    fake = Trainer()
    reg, slots = registry(fake, parallel=2)
    a, b = reg.submit(CFG, tmp_path / "a"), reg.submit(CFG, tmp_path / "b")
    started(fake, "a")
    started(fake, "b")  # neither released: both hold a slot at once
    c = reg.submit(CFG, tmp_path / "c")
    refused(slots, c)
    assert c.state == "queued" and reg.queue_position(c) == 1 and fake.most_at_once == 2
    for name in "abc":
        fake.release[name].set()
    for j in (a, b, c):
        ended(j)
    assert {j.state for j in (a, b, c)} == {"finished"}


def test_the_job_records_its_progress(tmp_path):
    fake = Trainer()
    reg, _ = registry(fake)
    job = reg.submit(TrainConfig(steps=10, d=3, C=3, n=6), tmp_path / "rel" / ".." / "p")
    started(fake, "p")
    assert job.path == (tmp_path / "p").resolve() and job.name == "p"
    view = job.view()
    assert {k: view[k] for k in ("name", "path", "state", "step", "steps", "kind", "stop_requested")} == {
        "name": "p", "path": str((tmp_path / "p").resolve()), "state": "running", "step": 1, "steps": 10,
        "kind": "softmax", "stop_requested": False}
    assert view["evals"] == [{"step": 1, "eval_loss": 1.0}] and view["verdict"] == {"converged": False}
    assert view["yardstick_loss"] == 0.5 and view["config"].d == 3 and view["eta_s"] is None  # one report
    view["evals"].append("not the job's")  # a copy, not the job's own list
    assert len(job.view()["evals"]) == 1
    fake.release["p"].set()
    ended(job)
    view = job.view()
    assert view["step"] == 10 and [e["step"] for e in view["evals"]] == [1, 10] and view["yardstick_loss"] == 0.5


def test_eta_from_the_rate_since_the_first_report():
    p = jobs.Progress(steps=100)
    assert p.eta_s() is None  # no report yet
    p.first_progress, p.last_progress = (10.0, 10), (10.0, 10)
    assert p.eta_s() is None  # one report: no rate
    p.last_progress = (20.0, 30)  # 20 steps in 10 s, 70 to go
    assert p.eta_s() == pytest.approx(35.0)
    p.last_progress = (20.0, 10)
    assert p.eta_s() is None


# ---------------------------------------------------------------- stop and cancel


def test_stop_while_running_frees_the_slot_for_the_next(tmp_path):
    fake, reg, slots, a, (b,) = one_running(tmp_path, "b")
    a.stop.set()
    assert a.view()["stop_requested"]
    started(fake, "b")
    ended(a)
    assert a.state == "stopped" and a.message == "stopped at step 1"  # it had trained: the trainer's message
    fake.release["b"].set()
    ended(b)
    assert b.state == "finished" and fake.calls == [("a", False), ("b", False)]


def test_cancel_while_queued_never_trains(tmp_path):
    fake, reg, slots, a, (b, c) = one_running(tmp_path, "b", "c")
    b.stop.set()
    ended(b)  # while a still holds the slot
    assert b.state == "stopped" and b.message == jobs.CANCELLED and reg.queue_position(c) == 1
    assert a.state == "running"
    fake.release["a"].set()
    started(fake, "c")
    fake.release["c"].set()
    ended(c)
    assert [n for n, _ in fake.calls] == ["a", "c"]  # b never reached the trainer


def test_stopped_before_the_first_step_says_nothing_was_trained(tmp_path):
    def quits(config, path, *, resume=False, on_progress=None, stop_event=None):
        return FakeRun("stopped", {}, "stopped at step 0")

    reg, _ = registry(quits)
    job = reg.submit(CFG, tmp_path / "q")
    ended(job)
    assert job.state == "stopped" and job.message == jobs.BEFORE_FIRST_STEP


def test_resubmitting_an_active_run_is_refused_a_finished_one_resumes(tmp_path):
    fake = Trainer()
    reg, _ = registry(fake)
    a = reg.submit(CFG, tmp_path / "a")
    started(fake, "a")
    with pytest.raises(ValueError, match="already training"):
        reg.submit(CFG, tmp_path / "a", resume=True)
    assert reg.jobs["a"] is a
    fake.release["a"].set()
    ended(a)
    fake.started["a"].clear()
    again = reg.submit(CFG, tmp_path / "a", resume=True)
    started(fake, "a")
    assert again is not a and reg.jobs["a"] is again and again.resume
    assert fake.calls == [("a", False), ("a", True)]
    fake.release["a"].set()
    ended(again)
    assert [j.name for j in reg.all()] == ["a"]  # one entry per run folder


# ---------------------------------------------------------------- failures


def test_a_failing_trainer_is_reported_and_the_registry_goes_on(tmp_path):
    fake = Trainer()

    def trainer(config, path, **kw):
        if Path(path).name == "bad":
            raise RuntimeError("boom")
        return fake(config, path, **kw)

    reg, slots = registry(trainer)
    bad = reg.submit(CFG, tmp_path / "bad")
    ended(bad)
    view = bad.view()
    assert view["state"] == "failed" and view["message"] == "RuntimeError: boom"
    assert "Traceback" in view["detail"] and "RuntimeError: boom" in view["detail"]
    good = reg.submit(CFG, tmp_path / "good")  # the slot was given back, the registry still works
    started(fake, "good")
    fake.release["good"].set()
    ended(good)
    assert good.state == "finished" and not reg.busy()


def test_a_diverged_run_keeps_its_verdict_and_message(tmp_path):
    fake = Trainer(outcome="diverged")
    reg, _ = registry(fake)
    job = reg.submit(CFG, tmp_path / "d")
    started(fake, "d")
    fake.release["d"].set()
    ended(job)
    assert job.state == "diverged" and job.message == "diverged: d" and job.verdict == {"converged": False}
    assert reg.active() == [] and not reg.busy()


# ---------------------------------------------------------------- sweeps


class Sweeper:
    """Stands in for engine.sweep.sweep: reports one evaluation per seed, then waits until released or stopped."""

    def __init__(self) -> None:
        self.started, self.release = threading.Event(), threading.Event()

    def __call__(self, config, seeds, *, on_progress=None, stop_event=None):
        seeds = list(seeds)
        hist = [[{"step": 0, "eval_loss": 1.0 + s, "strategy": "selection"}] for s in seeds]
        on_progress({"step": 0, "steps": config.steps, "evals": [h[-1] for h in hist], "elapsed_s": 0.5})
        self.started.set()
        status = "finished"
        while not self.release.wait(0.005):
            if stop_event.is_set():
                status = "stopped"
                break
        if status == "finished":
            for s, h in zip(seeds, hist):
                h.append({"step": config.steps, "eval_loss": 0.1 * s, "strategy": "elimination"})
        return SweepResult([dataclasses.replace(config, seed=s) for s in seeds], hist, [{} for _ in seeds], status,
                           12.0, 1, 0)


def test_a_sweep_reports_its_runs_and_shares_the_slot_with_training(tmp_path):
    sweeper, fake = Sweeper(), Trainer()
    reg, slots = registry(fake, sweeper)
    sweep = reg.submit_sweep(CFG, [4, 5], "s")
    assert sweeper.started.wait(TIMEOUT)
    view = sweep.view()
    assert view["state"] == "running" and view["seeds"] == [4, 5] and view["elapsed_s"] == 0.5
    assert view["runs"] == [{"seed": 4, "step": 0, "eval_loss": 5.0, "strategy": "selection"},
                            {"seed": 5, "step": 0, "eval_loss": 6.0, "strategy": "selection"}]
    run = reg.submit(CFG, tmp_path / "r")
    refused(slots, run)
    assert run.state == "queued" and reg.queue_position(run) == 1 and fake.calls == []
    assert reg.busy() and reg.active() == [run] and reg.all() == [run]  # the Train page lists runs only
    assert reg.latest_sweep() is sweep
    with pytest.raises(ValueError, match="already training"):
        reg.submit_sweep(CFG, [1], "s")
    sweeper.release.set()
    started(fake, "r")
    ended(sweep, "sweep")
    view = sweep.view()
    assert view["state"] == "finished" and view["message"] == "12 s on 1 device(s)" and view["elapsed_s"] == 12.0
    assert [(r["seed"], r["step"], r["strategy"]) for r in view["runs"]] == [(4, 10, "elimination"),
                                                                            (5, 10, "elimination")]
    fake.release["r"].set()
    ended(run)
    assert not reg.busy()


def test_a_stopped_sweep_and_a_failing_one(tmp_path):
    sweeper = Sweeper()
    reg, _ = registry(sweeper=sweeper)
    sweep = reg.submit_sweep(CFG, [0, 1, 2], "s")
    assert sweeper.started.wait(TIMEOUT)
    sweep.stop.set()
    ended(sweep, "sweep")
    assert sweep.state == "stopped" and [r["step"] for r in sweep.view()["runs"]] == [0, 0, 0]

    def broken(*args, **kwargs):
        raise ValueError("bad seeds")

    reg2, slots2 = registry(sweeper=broken)
    failed = reg2.submit_sweep(CFG, [0], "f")
    ended(failed, "sweep")
    assert failed.state == "failed" and failed.message == "ValueError: bad seeds" and "Traceback" in failed.detail
    assert slots2.acquire(timeout=1)
    assert reg2.latest_sweep() is failed and reg2.all() == []


def test_queued_jobs_start_in_the_order_they_were_submitted():
    """Positions 1, 2, 3 start in that order whichever waiting thread grabs the free slot first."""
    started, release = [], threading.Event()

    def trainer(config, path, *, resume, on_progress, stop_event):
        started.append(Path(path).name)
        if Path(path).name == "first":
            release.wait(TIMEOUT)
        return types.SimpleNamespace(verdict={}, message="", status="finished")

    reg = jobs.JobRegistry(parallel=1, trainer=trainer)
    first = reg.submit(TrainConfig(kind="linear", d=2, C=2, n=4, steps=1), Path("/tmp") / "first")
    while not started:
        first.stop.wait(0.01)
    queued = [reg.submit(TrainConfig(kind="linear", d=2, C=2, n=4, steps=1), Path("/tmp") / f"q{i}")
              for i in range(4)]
    assert [reg.queue_position(j) for j in queued] == [1, 2, 3, 4]
    release.set()
    for t in [t for t in threading.enumerate() if t.name.startswith("train-q")]:
        t.join(TIMEOUT)
    assert started == ["first", "q0", "q1", "q2", "q3"]


# ---------------------------------------------------------------- a read-only server


def test_a_read_only_server_starts_no_job_and_writes_nothing(tmp_path, monkeypatch):
    """KICL_READ_ONLY=1: the job layer itself refuses training and sweeps, whatever page asked."""
    monkeypatch.setenv("KICL_READ_ONLY", "1")
    fake = Trainer()
    reg, _ = registry(fake)
    with pytest.raises(jobs.ReadOnlyError, match="read-only \\(KICL_READ_ONLY=1\\)"):
        reg.submit(CFG, tmp_path / "a")
    with pytest.raises(jobs.ReadOnlyError):
        reg.submit_sweep(CFG, [0, 1], "sweep")
    assert reg.jobs == {} and reg.sweeps == {} and fake.calls == []
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setenv("KICL_READ_ONLY", "0")  # "0" is off: jobs start again
    a = reg.submit(CFG, tmp_path / "a")
    started(fake, "a")
    a.stop.set()
    ended(a)
