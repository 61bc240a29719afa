import jax
import pytest

from engine.runtime import enable_compilation_cache

jax.config.update("jax_enable_x64", True)
enable_compilation_cache()


@pytest.fixture
def key():
    return jax.random.key(0)
