"""The run store: one folder per run, readable by the app, the CLI and the tests.

    <run>/config.json     the TrainConfig
    <run>/history.json    evaluations, A/B snapshots, the yardstick closed form
    <run>/status.json     status (running, finished, stopped, diverged), verdict, message
    <run>/checkpoints/    orbax checkpoints: params, optimiser state, step, RNG state

Nothing is unpickled: JSON and orbax's array format only. Problems surface as `RunError` with a
message that names the file and what is wrong with it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from engine.config import TrainConfig
from engine.state import state_template

PRETRAINED_ROOT = Path(__file__).resolve().parent.parent / "pretrained"
USER_ROOT = Path(__file__).resolve().parent.parent / "runs"
READ_ONLY_ENV = "KICL_READ_ONLY"


def read_only() -> bool:
    """Whether this process must write nothing under runs/: a server shared with an audience (`KICL_READ_ONLY=1`)
    shows the shipped runs and trains nothing. Read at every call, so a test can set it."""
    return os.environ.get(READ_ONLY_ENV, "").strip().lower() not in ("", "0", "false", "no")


class RunError(Exception):
    """A run folder that cannot be used, with the reason in words."""


@dataclasses.dataclass
class Run:
    path: Path
    config: TrainConfig
    params: dict[str, np.ndarray]
    history: dict
    verdict: dict
    status: str
    message: str = ""

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def converged(self) -> bool:
        return bool(self.verdict.get("converged", False))


def write_atomic(path: Path, write: Callable[[IO], None], binary: bool = False) -> None:
    """Write `path` through `write(file)` atomically: a reader never sees half a file, a crash never loses the
    previous one, and a failed write leaves no temporary file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: Any) -> None:
    """`obj` as compact JSON, written atomically."""
    write_atomic(path, lambda f: json.dump(obj, f, separators=(",", ":")))


def read_json(path: Path) -> Any:
    if not path.is_file():
        raise RunError(f"{path.parent.name}: missing {path.name}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunError(f"{path.parent.name}: {path.name} is corrupt ({e.msg if hasattr(e, 'msg') else e})") from e


def checkpoint_manager(run_dir: Path, max_to_keep: int = 2) -> ocp.CheckpointManager:
    return ocp.CheckpointManager(
        (run_dir / "checkpoints").resolve(),
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
        item_names=("state",),
    )


def save_state(mngr: ocp.CheckpointManager, step: int, state: dict) -> None:
    mngr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state)))
    mngr.wait_until_finished()


def restore_state(run_dir: Path, template: dict, step: int | None = None) -> tuple[int, dict]:
    """Latest (or given) checkpoint, restored into the structure of `template`."""
    ckpt = run_dir / "checkpoints"
    if not ckpt.is_dir():
        raise RunError(f"{run_dir.name}: no checkpoints folder")
    mngr = None
    try:
        mngr = checkpoint_manager(run_dir)
        step = mngr.latest_step() if step is None else step
        if step is None:
            raise RunError(f"{run_dir.name}: the checkpoints folder holds no checkpoint")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
        restored = mngr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))
    except RunError:
        raise
    except Exception as e:  # orbax raises many types for unreadable or mismatched data
        raise RunError(f"{run_dir.name}: checkpoint cannot be restored ({type(e).__name__}: {str(e)[:300]})") from e
    finally:
        if mngr is not None:
            mngr.close()  # else its background reads outlive the call (warnings at garbage collection)
    return step, restored["state"]


def list_runs(root: Path | str) -> list[Path]:
    """Run folders directly under `root` (those with a config.json), sorted by name."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / "config.json").is_file())


def upgrade_history(history: dict) -> dict:
    """Older runs named the alignment against their second closed form `*_plain`; now `*_other`."""
    for row in history.get("evals", []):
        for key in [k for k in row if k.endswith("_plain")]:
            row[key[: -len("_plain")] + "_other"] = row.pop(key)
    return history


def load_run(path: Path | str) -> Run:
    """Config, history, status and final weights of a run; `RunError` says what is wrong."""
    path = Path(path)
    if not path.is_dir():
        raise RunError(f"{path.name}: no such run folder")
    try:
        config = TrainConfig.from_dict(read_json(path / "config.json"))
    except (TypeError, ValueError) as e:
        raise RunError(f"{path.name}: config.json is not a valid training config ({e})") from e
    history = upgrade_history(read_json(path / "history.json"))
    status = read_json(path / "status.json") if (path / "status.json").is_file() else {"status": "unknown"}
    _, state = restore_state(path, state_template(config))
    params = {k: np.asarray(v) for k, v in state["params"].items()}
    return Run(
        path=path,
        config=config,
        params=params,
        history=history,
        verdict=status.get("verdict", {}),
        status=status.get("status", "unknown"),
        message=status.get("message", ""),
    )
