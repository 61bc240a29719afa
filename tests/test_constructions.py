import jax
import numpy as np
import pytest

from engine import closed_form as cf
from engine import constructions as cons
from engine import models
from engine.tasks import TaskConfig, sample_contexts
from tests import reference as ref


@pytest.fixture(scope="module", params=[2, 3, 10])
def setup(request):
    task = TaskConfig(d=request.param, C=5, n=20)
    return task, sample_contexts(jax.random.key(request.param), task, 16)


def rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


def test_linear_construction_is_gd(setup):
    task, ctx = setup
    for qk in (True, False):
        got = models.logits(cons.linear_construction(task, 3.7), ctx, "linear", query_in_keys=qk)
        assert rel(got, cf.gd_logits(ctx, 3.7)) <= 1e-10


def test_kernel_construction_is_kernel_gd(setup):
    task, ctx = setup
    got = models.logits(cons.kernel_construction(task, 5.0), ctx, "kernel", sigma2=0.3)
    assert rel(got, cf.kernel_gd_logits(ctx, 5.0, 0.3)) <= 1e-10


@pytest.mark.parametrize("c_eta, c_sigma", [(4.0, 2.5), (-3.0, -1.5), (10.0, 40.0)])
def test_softmax_construction_is_adaptive_kernel_gd(setup, c_eta, c_sigma):
    task, ctx = setup
    params = cons.softmax_construction(task, c_eta, c_sigma)
    with_q = models.logits(params, ctx, "softmax", query_in_keys=True)
    without_q = models.logits(params, ctx, "softmax", query_in_keys=False)
    assert rel(with_q, cf.adaptive_logits(ctx, c_eta, c_sigma, self_key=True)) <= 1e-10
    assert rel(without_q, cf.adaptive_logits(ctx, c_eta, c_sigma, self_key=False)) <= 1e-10
    # The two variants differ: the query's own key takes attention away from the labels.
    assert rel(with_q, without_q) > 1e-6


def test_closed_forms_match_numpy_formulas(setup):
    task, ctx = setup
    c = ref.as_np(ctx)
    for b in range(ctx.batch):
        args = (c["xs"][b], c["ys"][b], c["xq"][b], task.C)
        np.testing.assert_allclose(cf.gd_logits(ctx, 2.0)[b], ref.gd(*args, 2.0), rtol=1e-12)
        np.testing.assert_allclose(cf.kernel_gd_logits(ctx, 2.0, 0.5)[b], ref.kernel_gd(*args, 2.0, 0.5), rtol=1e-12)
        for sk in (False, True):
            np.testing.assert_allclose(
                cf.adaptive_logits(ctx, 3.0, 7.0, self_key=sk)[b], ref.adaptive(*args, 3.0, 7.0, sk), rtol=1e-12
            )
