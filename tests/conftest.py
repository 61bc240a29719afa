"""Shared by every test file.

The engine is tested in its production dtype, float32. Tests whose point is agreement with the float64
numpy references of tests/reference.py to ~1e-10 switch float64 on for themselves through the `x64`
fixture (or a module's own autouse fixture); `jax.enable_x64` is thread-local, so nothing leaks between
tests. One tiny training run is made once per test run (`tiny_run`, shared by pytest-xdist's workers through
a file lock) and shared, read-only, by the tests of the loop, the run store, the CLI and the report. Fits that
runs make for their yardsticks go to a temporary store (KICL_FIT_CACHE), never into the checkout's runs/.fits.
"""

import fcntl
import os
import shutil
import tempfile

import jax
import numpy as np
import pytest

from engine.config import TrainConfig
from engine.runtime import enable_compilation_cache

# One fit store per test session (pytest-xdist's workers inherit the controller's); removed at its end.
_OWN_FIT_CACHE = "KICL_FIT_CACHE" not in os.environ
if _OWN_FIT_CACHE:
    os.environ["KICL_FIT_CACHE"] = tempfile.mkdtemp(prefix="kicl-fits-")
enable_compilation_cache()

# A softmax run small enough to train in seconds: 300 steps in chunks of 100, four evaluations; its yardsticks are
# fitted on the fit contexts test_fitted.py uses (d = 3, C = 3, n = 6, N = 256), so the two share compiled programs.
TINY = TrainConfig(kind="softmax", d=3, C=3, n=6, batch=32, steps=300, lr=1e-2, warmup=20, eval_every=100,
                   eval_contexts=64, align_contexts=8, fit_contexts=256, seed=3)


# Test files whose tests share one worker under pytest-xdist (-n): the real-browser tests share one app server, the
# talk's export tests one export.
ONE_WORKER_FILES = ("tests/test_browser.py", "tests/test_talk_export.py")
# The page tests (AppTest) run first and the real-browser file next: the app server it starts then finds the pages'
# compiled programs in the shared compilation cache instead of compiling them again (about 27 s of CPU).
PAGE_TEST_FILES = ("tests/test_app.py", "tests/test_talk.py", "tests/test_variants.py", "tests/test_strategies.py")


def pytest_collection_modifyitems(items: list) -> None:
    """Page tests, then the real-browser file, then the rest, each in its own order (a stable sort)."""
    def rank(item) -> int:
        return 0 if item.nodeid.startswith(PAGE_TEST_FILES) else 1 if item.nodeid.startswith(ONE_WORKER_FILES) else 2

    items.sort(key=rank)


def pytest_xdist_make_scheduler(config, log):
    """Every test is scheduled on its own, in the order above, except ONE_WORKER_FILES, each sent whole to one
    worker. (What `--dist loadgroup` with `xdist_group` marks is for; pytest-xdist 3.8 marks the group on
    `_nodeid`, which pytest 9 no longer reads, so those marks split the file.)"""
    from xdist.scheduler import LoadScopeScheduling

    class OneWorkerFiles(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return nodeid.split("::")[0] if nodeid.startswith(ONE_WORKER_FILES) else nodeid

    config.option.loadscopereorder = False  # keep the collection's order
    return OneWorkerFiles(config, log)


@pytest.fixture
def key():
    return jax.random.key(0)


@pytest.fixture(scope="module", params=[2, 3, 10])
def small_contexts(request):
    """(task, 16 contexts) at d = 2, 3 and 10 with C = 5, n = 20: the closed-form and construction tests' data."""
    from engine.tasks import TaskConfig, sample_contexts

    task = TaskConfig(d=request.param, C=5, n=20)
    return task, sample_contexts(jax.random.key(request.param), task, 16)


@pytest.fixture
def circle_context():
    """Ten points on the circle labelled by the nearest of three prototypes, and a query: xs, ys, xq, yq, protos."""
    rng = np.random.default_rng(0)
    ang = rng.uniform(0, 2 * np.pi, 10)
    xs = np.stack([np.cos(ang), np.sin(ang)], -1)
    protos = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    ys = np.argmax(xs @ protos.T, -1)
    return xs, ys, np.array([np.cos(0.3), np.sin(0.3)]), 0, protos


@pytest.fixture
def x64():
    """float64 for one test (arrays it creates, programs it compiles)."""
    with jax.enable_x64(True):
        yield


@pytest.fixture(scope="module")
def x64_module():
    """float64 for a whole module, module-scoped fixtures included: request it first (autouse)."""
    with jax.enable_x64(True):
        yield


@pytest.fixture(scope="session")
def tiny_config() -> TrainConfig:
    return TINY


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """TINY trained to the end, in float32 as in production. Copy it before changing anything in it."""
    from engine import train
    from engine.runs import load_run

    # pytest-xdist's workers share their base folder's parent: the first to get here trains, the others read it
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    path = shared / "session-tiny-run"
    with open(shared / "session-tiny-run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (path / "status.json").is_file():
            return load_run(path)
        return train.train(TINY, path)


def pytest_sessionfinish(session, exitstatus):
    if _OWN_FIT_CACHE:
        shutil.rmtree(os.environ["KICL_FIT_CACHE"], ignore_errors=True)


@pytest.fixture
def empty_roots(tmp_path, monkeypatch):
    """Empty pretrained/ and runs/ folders of the test's own, as the app's two run roots: (pretrained, runs)."""
    from ui import run_index

    pre, user = tmp_path / "pretrained", tmp_path / "runs"
    pre.mkdir()
    user.mkdir()
    monkeypatch.setattr(run_index, "PRETRAINED", pre)
    monkeypatch.setattr(run_index, "USER_RUNS", user)
    return pre, user
