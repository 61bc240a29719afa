import numpy as np
import pytest

from engine import closed_form as cf
from engine import constructions as cons
from engine import models
from engine.fit import closed_form_fn
from tests import reference as ref


@pytest.fixture(scope="module", autouse=True)
def _float64(x64_module):
    """Equality with the closed forms to 1e-10 is a float64 statement."""


def test_linear_construction_is_gd(small_contexts):
    task, ctx = small_contexts
    for qk in (True, False):
        got = models.logits(cons.linear_construction(task, 3.7), ctx, "linear", query_in_keys=qk)
        assert ref.rel(got, cf.gd_logits(ctx, 3.7)) <= 1e-10


def test_kernel_construction_is_kernel_gd(small_contexts):
    task, ctx = small_contexts
    got = models.logits(cons.kernel_construction(task, 5.0), ctx, "kernel", sigma2=0.3)
    assert ref.rel(got, cf.kernel_gd_logits(ctx, 5.0, 0.3)) <= 1e-10


@pytest.mark.parametrize("c_eta, c_sigma", [(4.0, 2.5), (-3.0, -1.5), (10.0, 40.0)])
def test_softmax_construction_is_adaptive_kernel_gd(small_contexts, c_eta, c_sigma):
    task, ctx = small_contexts
    params = cons.softmax_construction(task, c_eta, c_sigma)
    with_q = models.logits(params, ctx, "softmax", query_in_keys=True)
    without_q = models.logits(params, ctx, "softmax", query_in_keys=False)
    assert ref.rel(with_q, cf.adaptive_logits(ctx, c_eta, c_sigma, self_key=True)) <= 1e-10
    assert ref.rel(without_q, cf.adaptive_logits(ctx, c_eta, c_sigma, self_key=False)) <= 1e-10
    # The two variants differ: the query's own key takes attention away from the labels.
    assert ref.rel(with_q, without_q) > 1e-6


@pytest.mark.parametrize("kind", models.KINDS)
@pytest.mark.parametrize("query_in_keys", [False, True])
def test_each_construction_computes_the_closed_form_it_is_represented_by(small_contexts, kind, query_in_keys):
    """`represented_by(kind, query_in_keys)` names the closed form the layer computes exactly: its yardstick."""
    task, ctx = small_contexts
    method = cf.represented_by(kind, query_in_keys)
    params = {"linear": cons.linear_construction(task, 3.7), "kernel": cons.kernel_construction(task, 3.7),
              "softmax": cons.softmax_construction(task, 4.0, 2.5)}[kind]
    consts = {"eta": 3.7, "sigma2": models.DEFAULT_SIGMA2, "c_eta": 4.0, "c_sigma": 2.5}
    got = models.logits(params, ctx, kind, query_in_keys=query_in_keys)
    assert ref.rel(got, closed_form_fn(method, consts)(ctx)) <= 1e-10


def test_construction_products_are_the_block_diagonals(small_contexts):
    """docs/science.md section 4: A = diag(c_sigma I_d, 0), B = diag(0, c_eta I_C); linear: diag(I_d, 0) and
    diag(0, (eta/n) I_C)."""
    task, _ = small_contexts
    d, C = task.d, task.C
    A, B = models.products(cons.softmax_construction(task, 4.0, 2.5))
    np.testing.assert_array_equal(A, np.diag([2.5] * d + [0.0] * C))
    np.testing.assert_array_equal(B, np.diag([0.0] * d + [4.0] * C))
    A, B = models.products(cons.linear_construction(task, 3.0))
    np.testing.assert_array_equal(A, np.diag([1.0] * d + [0.0] * C))
    np.testing.assert_allclose(B, np.diag([0.0] * d + [3.0 / task.n] * C), rtol=1e-15)
