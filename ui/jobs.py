"""Training jobs and seed sweeps that outlive page reruns: a worker thread owns each, the page only polls.

A Streamlit rerun (any widget change) ends the page script, so training cannot live there. Each job
runs `engine.train.train` (a `Job`) or `engine.sweep.sweep` (a `SweepJob`) in its own thread and writes
progress into a plain object under a lock; pages read its `view()` from a polling fragment. The worker
never calls `st.*`. One semaphore lets one job of either kind train at a time (the machine has few
cores): a second one waits, visibly queued, and can be cancelled while it waits. The registry of jobs
is held by `ui.loaders.job_registry` (a `st.cache_resource`), so jobs survive reruns, page changes,
reloads and other browser sessions. A server in read-only mode (`KICL_READ_ONLY=1`, `engine.runs.read_only`)
starts none: `submit` and `submit_sweep` raise `ReadOnlyError`, whatever page asked.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from engine.runs import READ_ONLY_ENV, read_only

ACTIVE = ("queued", "preparing", "running")
BEFORE_FIRST_STEP = "stopped before the first step: nothing was trained"
CANCELLED = "cancelled while queued"
READ_ONLY = (f"This server is read-only ({READ_ONLY_ENV}=1): it shows the shipped runs and the talk, and starts no "
             "training or sweeps and writes nothing under runs/. To train, run the app on your own machine.")


class ReadOnlyError(PermissionError):
    """A job asked of a read-only server."""


@dataclasses.dataclass(kw_only=True)
class Progress:
    """What every job shares: its state, its step count, the rate behind its ETA, and its stop switch."""

    state: str = "queued"  # queued, preparing, running, then finished, stopped, diverged or failed
    step: int = 0
    steps: int = 0
    message: str = ""
    detail: str = ""  # the traceback of a failed job
    submitted: float = dataclasses.field(default_factory=time.time)
    first_progress: tuple[float, int] | None = None  # (time, step) of the first report: the rate's origin
    last_progress: tuple[float, int] | None = None
    stop: threading.Event = dataclasses.field(default_factory=threading.Event)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def _advance(self, step: int, steps: int) -> None:
        """Record a report at `step` of `steps` (the caller holds the lock)."""
        now = time.time()
        self.state, self.step, self.steps = "running", int(step), int(steps)
        if self.first_progress is None:
            self.first_progress = (now, self.step)
        self.last_progress = (now, self.step)

    def eta_s(self) -> float | None:
        """Seconds left at the rate measured since the first report (compile and fitting excluded)."""
        if self.first_progress is None or self.last_progress is None:
            return None
        (t0, s0), (t1, s1) = self.first_progress, self.last_progress
        if s1 <= s0 or t1 <= t0:
            return None
        return (self.steps - s1) * (t1 - t0) / (s1 - s0)


@dataclasses.dataclass
class Job(Progress):
    """One training run in progress (or done): what the page shows about it."""

    name: str
    path: Path
    config: Any  # engine.train.TrainConfig
    resume: bool = False
    evals: list[dict] = dataclasses.field(default_factory=list)
    verdict: dict | None = None
    yardstick_loss: float | None = None

    def on_progress(self, info: dict) -> None:
        """Called by `train` between chunks (in the worker thread)."""
        with self.lock:
            self._advance(info["step"], info["steps"])
            if info.get("eval") is not None:
                self.evals.append(dict(info["eval"]))
            self.verdict = info.get("verdict", self.verdict)
            self.yardstick_loss = info.get("yardstick_loss", self.yardstick_loss)

    def view(self) -> dict:
        """A consistent copy of the job for drawing (taken under the lock)."""
        with self.lock:
            return {"name": self.name, "path": str(self.path), "state": self.state, "step": self.step,
                    "steps": self.steps or int(self.config.steps), "evals": list(self.evals),
                    "verdict": dict(self.verdict or {}), "yardstick_loss": self.yardstick_loss,
                    "message": self.message, "detail": self.detail, "eta_s": self.eta_s(), "kind": self.config.kind,
                    "config": self.config, "stop_requested": self.stop.is_set()}  # frozen: shared as is


@dataclasses.dataclass
class SweepJob(Progress):
    """One seed sweep (`engine.sweep.sweep`, nothing saved to disk): its runs' latest evaluations."""

    name: str
    config: Any  # engine.train.TrainConfig shared by the runs; they differ in seed
    seeds: list[int]
    latest: list[dict] = dataclasses.field(default_factory=list)  # per run: seed and its latest evaluation
    elapsed_s: float = 0.0

    def on_progress(self, info: dict) -> None:
        """Called by `sweep` after every evaluation (in the worker thread)."""
        with self.lock:
            self._advance(info["step"], info["steps"])
            self.latest = [{"seed": s, **e} for s, e in zip(self.seeds, info["evals"])]
            self.elapsed_s = float(info.get("elapsed_s", self.elapsed_s))

    def finish(self, result: Any) -> None:
        """Keep what the page shows of an `engine.sweep.SweepResult` (its weights are dropped)."""
        with self.lock:
            self.latest = [{"seed": s, **e} for s, e in zip(result.seeds, result.final())]
            self.elapsed_s = float(result.elapsed_s)
            self.message = f"{result.elapsed_s:.0f} s on {result.devices} device(s)"
            self.state = result.status

    def view(self) -> dict:
        """A consistent copy of the sweep for drawing (taken under the lock)."""
        with self.lock:
            return {"name": self.name, "state": self.state, "step": self.step,
                    "steps": self.steps or int(self.config.steps), "runs": [dict(r) for r in self.latest],
                    "seeds": list(self.seeds), "message": self.message, "detail": self.detail,
                    "eta_s": self.eta_s(), "elapsed_s": self.elapsed_s, "config": self.config,
                    "stop_requested": self.stop.is_set()}


class JobRegistry:
    """All jobs of this server process, and the slot(s) that let them train.

    Training jobs (`jobs`, keyed by run folder name) and sweeps (`sweeps`, keyed by name) are kept apart,
    so the Train page lists only runs; they share the slots and the queue."""

    def __init__(self, parallel: int = 1, trainer: Callable[..., Any] | None = None,
                 sweeper: Callable[..., Any] | None = None) -> None:
        self.jobs: dict[str, Job] = {}
        self.sweeps: dict[str, SweepJob] = {}
        self.lock = threading.Lock()
        self.slots = threading.Semaphore(parallel)
        self._trainer = trainer  # engine.train.train unless a test supplies another
        self._sweeper = sweeper  # engine.sweep.sweep unless a test supplies another

    def submit(self, config, path: Path, *, resume: bool = False) -> Job:
        """Start a job in a new thread; it waits for a free slot. Raises ValueError if `path` is busy,
        ReadOnlyError on a read-only server."""
        path = Path(path).resolve()
        job = Job(name=path.name, path=path, config=config, resume=resume, steps=int(config.steps))
        return self._launch(job, self.jobs, self._train, "train")

    def submit_sweep(self, config, seeds: Sequence[int], name: str) -> SweepJob:
        """Start a sweep of `config` over `seeds` in a new thread, queued like training. Raises ValueError if
        a sweep of that name is still active, ReadOnlyError on a read-only server."""
        job = SweepJob(name=name, config=config, seeds=[int(s) for s in seeds], steps=int(config.steps))
        return self._launch(job, self.sweeps, self._sweep, "sweep")

    def _launch(self, job, table: dict, work: Callable[[Any], None], prefix: str):
        if read_only():
            raise ReadOnlyError(READ_ONLY)
        with self.lock:
            old = table.get(job.name)
            if old is not None and old.active:
                raise ValueError(f"{job.name} is already training; stop it first")
            table[job.name] = job
        threading.Thread(target=self._run, args=(job, work), name=f"{prefix}-{job.name}", daemon=True).start()
        return job

    def _run(self, job: Progress, work: Callable[[Any], None]) -> None:
        """Wait for a slot in submission order (the queue positions shown), then hold it for the job."""
        while not job.stop.is_set():
            if not self.slots.acquire(timeout=0.25):
                continue
            if not job.stop.is_set() and self.queue_position(job) <= 1:
                self._hold(job, work)
                return
            self.slots.release()  # cancelled just now, or a job submitted earlier still waits: the slot is not ours
            job.stop.wait(0.05)
        with job.lock:
            job.state, job.message = "stopped", CANCELLED

    def _hold(self, job: Progress, work: Callable[[Any], None]) -> None:
        """Holds the slot (acquired by `_run`) for the whole job, and gives it back whatever happens."""
        try:
            with job.lock:
                job.state = "preparing"
            work(job)
        except Exception as e:  # shown on the page; the thread must not die silently
            detail = traceback.format_exc()
            with job.lock:  # the state last: a reader that sees "failed" sees why
                job.message, job.detail = f"{type(e).__name__}: {e}", detail
                job.state = "failed"
        finally:
            self.slots.release()

    def _train(self, job: Job) -> None:
        """Stop is honoured before the preparation (fitting the yardstick, compiling: seconds to half a minute,
        which cannot be cut short) and right after it, before the first step (`train` checks it there)."""
        if job.stop.is_set():
            with job.lock:
                job.state, job.message = "stopped", BEFORE_FIRST_STEP
            return
        trainer = self._trainer
        if trainer is None:
            from engine.train import train as trainer
        run = trainer(job.config, job.path, resume=job.resume, on_progress=job.on_progress, stop_event=job.stop)
        with job.lock:
            job.verdict, job.message = dict(run.verdict), run.message
            if run.status == "stopped" and job.first_progress is None:
                job.message = BEFORE_FIRST_STEP
            job.state = run.status

    def _sweep(self, job: SweepJob) -> None:
        sweeper = self._sweeper
        if sweeper is None:
            from engine.sweep import sweep as sweeper
        job.finish(sweeper(job.config, job.seeds, on_progress=job.on_progress, stop_event=job.stop))

    def active(self) -> list[Job]:
        """Active training jobs."""
        with self.lock:
            return [j for j in self.jobs.values() if j.active]

    def busy(self) -> bool:
        """Whether any training job or sweep is queued or running."""
        with self.lock:
            return any(j.active for j in (*self.jobs.values(), *self.sweeps.values()))

    def all(self) -> list[Job]:
        """Training jobs, newest first."""
        with self.lock:
            return sorted(self.jobs.values(), key=lambda j: j.submitted, reverse=True)

    def latest_sweep(self) -> SweepJob | None:
        """The sweep submitted last (by any session), or None."""
        with self.lock:
            return max(self.sweeps.values(), key=lambda j: j.submitted, default=None)

    def queue_position(self, job: Progress) -> int:
        """1 for the first job (of either kind) waiting for the slot, 2 for the next, ..."""
        with self.lock:
            waiting = sorted((j for j in (*self.jobs.values(), *self.sweeps.values()) if j.state == "queued"),
                             key=lambda j: j.submitted)
        return next((i + 1 for i, j in enumerate(waiting) if j is job), 0)
