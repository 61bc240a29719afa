"""Training jobs that outlive page reruns: a worker thread owns each run, the page only polls.

A Streamlit rerun (any widget change) ends the page script, so training cannot live there. Each job
runs `engine.train.train` in its own thread and writes progress into a plain `Job` under a lock; pages
read `Job.view()` from a polling fragment. The worker never calls `st.*`. A semaphore lets one job
train at a time (the machine has few cores): a second one waits, visibly queued, and can be
cancelled while it waits. The registry of jobs is held by `ui.loaders.job_registry` (a
`st.cache_resource`), so jobs survive reruns, page changes, reloads and other browser sessions.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ACTIVE = ("queued", "preparing", "running")


@dataclasses.dataclass
class Job:
    """One training run in progress (or done): what the page shows about it."""

    name: str
    path: Path
    config: Any  # engine.train.TrainConfig
    resume: bool = False
    state: str = "queued"  # queued, preparing, running, finished, stopped, diverged, failed
    step: int = 0
    steps: int = 0
    evals: list[dict] = dataclasses.field(default_factory=list)
    verdict: dict | None = None
    yardstick_loss: float | None = None
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

    def on_progress(self, info: dict) -> None:
        """Called by `train` between chunks (in the worker thread)."""
        now = time.time()
        with self.lock:
            self.state = "running"
            self.step, self.steps = int(info["step"]), int(info["steps"])
            if info.get("eval") is not None:
                self.evals.append(dict(info["eval"]))
            self.verdict = info.get("verdict", self.verdict)
            self.yardstick_loss = info.get("yardstick_loss", self.yardstick_loss)
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

    def view(self) -> dict:
        """A consistent copy of the job for drawing (taken under the lock)."""
        with self.lock:
            return {"name": self.name, "path": str(self.path), "state": self.state, "step": self.step,
                    "steps": self.steps or int(self.config.steps), "evals": list(self.evals),
                    "verdict": dict(self.verdict or {}), "yardstick_loss": self.yardstick_loss,
                    "message": self.message, "detail": self.detail, "eta_s": self.eta_s(), "kind": self.config.kind,
                    "config": self.config.to_dict(), "stop_requested": self.stop.is_set()}


class JobRegistry:
    """All jobs of this server process, and the slot(s) that let them train."""

    def __init__(self, parallel: int = 1, trainer: Callable[..., Any] | None = None) -> None:
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        self.slots = threading.Semaphore(parallel)
        self._trainer = trainer  # engine.train.train unless a test supplies another

    def submit(self, config, path: Path, *, resume: bool = False) -> Job:
        """Start a job in a new thread; it waits for a free slot. Raises ValueError if `path` is busy."""
        path = Path(path).resolve()
        with self.lock:
            old = self.jobs.get(path.name)
            if old is not None and old.active:
                raise ValueError(f"{path.name} is already training; stop it first")
            job = Job(name=path.name, path=path, config=config, resume=resume, steps=int(config.steps))
            self.jobs[path.name] = job
        threading.Thread(target=self._run, args=(job,), name=f"train-{path.name}", daemon=True).start()
        return job

    def _run(self, job: Job) -> None:
        while not self.slots.acquire(timeout=0.25):
            if job.stop.is_set():
                break
        else:
            if not job.stop.is_set():
                self._train(job)
                return
            self.slots.release()  # got the slot just as it was cancelled: leave it to the next job
        with job.lock:
            job.state, job.message = "stopped", "cancelled while queued"

    def _train(self, job: Job) -> None:
        """Holds the slot (acquired by `_run`) for the whole run, and gives it back whatever happens."""
        try:
            with job.lock:
                job.state = "preparing"
            trainer = self._trainer
            if trainer is None:
                from engine.train import train as trainer
            run = trainer(job.config, job.path, resume=job.resume, on_progress=job.on_progress,
                          stop_event=job.stop)
            with job.lock:
                job.state, job.verdict, job.message = run.status, dict(run.verdict), run.message
        except Exception as e:  # shown on the page; the thread must not die silently
            detail = traceback.format_exc()
            with job.lock:  # the state last: a reader that sees "failed" sees why
                job.message, job.detail = f"{type(e).__name__}: {e}", detail
                job.state = "failed"
        finally:
            self.slots.release()

    def active(self) -> list[Job]:
        with self.lock:
            return [j for j in self.jobs.values() if j.active]

    def all(self) -> list[Job]:
        """Newest first."""
        with self.lock:
            return sorted(self.jobs.values(), key=lambda j: j.submitted, reverse=True)

    def queue_position(self, job: Job) -> int:
        """1 for the first job waiting for the slot, 2 for the next, ..."""
        with self.lock:
            waiting = sorted((j for j in self.jobs.values() if j.state == "queued"), key=lambda j: j.submitted)
        return next((i + 1 for i, j in enumerate(waiting) if j is job), 0)
