"""engine.runtime: the process-level settings every entry point shares."""

import os

import jax

from engine import runtime

# The flags this JAX gets: all of them on the pinned JAX, none on another (XLA stops on unknown flags).
EXPECTED = list(runtime.CPU_FLAGS) if jax.__version__.startswith(runtime.CPU_FLAGS_JAX) else []


def test_importing_the_engine_sets_the_cpu_flags():
    """conftest imports the engine before anything computes, as app.py and the CLIs do."""
    flags = os.environ.get("XLA_FLAGS", "").split()
    assert all(f in flags for f in EXPECTED)


def test_cpu_flags_added_once_and_never_over_the_users_choice(monkeypatch):
    monkeypatch.setattr(jax, "__version__", runtime.CPU_FLAGS_JAX + "2")
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
    runtime.set_cpu_flags()
    runtime.set_cpu_flags()
    assert os.environ["XLA_FLAGS"].split() == ["--xla_dump_to=/tmp/x", *runtime.CPU_FLAGS]
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_use_fusion_emitters=true")
    runtime.set_cpu_flags()
    assert os.environ["XLA_FLAGS"] == "--xla_cpu_use_fusion_emitters=true"
    monkeypatch.delenv("XLA_FLAGS")
    runtime.set_cpu_flags()
    assert os.environ["XLA_FLAGS"].split() == list(runtime.CPU_FLAGS)


def test_cpu_flags_only_on_the_jax_they_were_measured_on(monkeypatch):
    """XLA stops on a flag it does not know: another JAX keeps its defaults."""
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    monkeypatch.setattr(jax, "__version__", "0.11.0")
    runtime.set_cpu_flags()
    assert "XLA_FLAGS" not in os.environ


def test_compilation_cache_in_the_given_folder(tmp_path, monkeypatch):
    before = jax.config.jax_compilation_cache_dir
    try:
        folder = runtime.enable_compilation_cache(tmp_path / "cache")
        assert folder == (tmp_path / "cache").resolve() and folder.is_dir()
        assert jax.config.jax_compilation_cache_dir == str(folder)
        monkeypatch.setenv("KICL_JAX_CACHE", str(tmp_path / "env"))
        assert runtime.enable_compilation_cache() == (tmp_path / "env").resolve()
    finally:
        jax.config.update("jax_compilation_cache_dir", before)


def test_device_summary_names_platform_count_and_version():
    s = runtime.device_summary()
    assert s.startswith(jax.devices()[0].platform) and f"{len(jax.devices())} x" in s and jax.__version__ in s
