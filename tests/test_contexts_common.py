"""What every context shares: specs, clone, input validation, sampling shapes; the crop context."""

import numpy as np
import pytest
from sklearn.base import clone

from contextures.contexts import make_context, registered_contexts
from contextures.contexts.crop import bilinear_matrix
from contextures.exceptions import ParameterError, SpecError

SPECS = [
    "knn", "knn(k=5)", "knn(k=3,include_self=true)", "rbf", "rbf(gamma=0.5)", "rbf(gamma=2)",
    "knn_mask(k=5,p=0.2,masks=3)", "knn_mask(random_state=none)", "rbf_mask(gamma=0.5,masks=2)",
    "rbf_mask(p=0.5,masks=3,random_state=7)", "label", "label(balanced=true)",
    "label(task=regression)", "graph(edges=data/edges.csv)", "graph(edges=e.tsv,isolated=self_loop)",
    "scarf(p=0.3)", "scarf(p=0.5,draws=4,random_state=1)", "noise(sigma=0.1)", "noise(sigma=0.25)",
    "cutmix(p=0.3)", "cutmix(p=0.6,draws=2)", "teacher", "teacher(model=rf,threshold=0.05)",
    "crop(alpha=0.2)", "crop(alpha=0.5)",
]


def test_every_name_is_registered():
    names = set(registered_contexts())
    assert {"knn", "rbf", "knn_mask", "rbf_mask", "label", "graph", "scarf", "noise", "cutmix",
            "teacher", "crop"} <= names


@pytest.mark.parametrize("spec", SPECS)
def test_spec_round_trip_and_clone(spec):
    ctx = make_context(spec)
    text = ctx.spec()
    assert make_context(text).spec() == text
    again = clone(ctx)
    assert again.spec() == text and again is not ctx
    assert again.get_params() == ctx.get_params()


def test_spec_errors():
    with pytest.raises(SpecError, match="unknown parameter"):
        make_context("knn(kk=3)")
    with pytest.raises(SpecError, match="unknown context"):
        make_context("knnn(k=3)")
    with pytest.raises(SpecError):
        make_context("knn(k=3")


FITTABLE = ["knn(k=3)", "rbf", "knn_mask(k=3,masks=2)", "rbf_mask(masks=2)", "label",
            "scarf(draws=2)", "noise(draws=2)", "cutmix(draws=2)", "teacher(model=logistic)",
            "crop(alpha=0.5)"]


@pytest.mark.parametrize("spec", FITTABLE)
def test_nan_and_inf_are_rejected(spec):
    X = np.random.default_rng(0).normal(size=(16, 4))
    y = np.arange(16) % 2
    make_context(spec).fit(X, y)
    for bad in (np.nan, np.inf):
        Xb = X.copy()
        Xb[3, 1] = bad
        with pytest.raises(ParameterError, match="NaN or infinite"):
            make_context(spec).fit(Xb, y)


@pytest.mark.parametrize("spec", FITTABLE)
def test_sample_shapes_and_value_spaces(spec):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(25, 4))
    y = np.arange(25) % 3
    ctx = make_context(spec).fit(X, y)
    idx = np.array([0, 4, 4, 24])
    a = ctx.sample(idx, random_state=0)
    assert a.shape[0] == 4
    if ctx.value_space == "input":
        assert a.shape[1] == 4
    b = ctx.sample(idx, random_state=0)
    np.testing.assert_array_equal(a, b)  # seeded
    try:
        j = ctx.sample_indices(idx, random_state=0)
    except ParameterError:
        assert ctx.access == "sample" or ctx.value_space == "other"
    else:
        op = ctx.operator()
        assert j.shape == (4,) and np.all((j >= 0) & (j < op.P.shape[1]))
    with pytest.raises(ParameterError, match=r"\[0, 25\)"):
        ctx.sample(np.array([25]))


def test_unfitted_context_says_so():
    with pytest.raises(ParameterError, match="not fitted"):
        make_context("knn").operator()


def test_crop_samples_images():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(10, 64))
    ctx = make_context("crop(alpha=1)").fit(X)
    np.testing.assert_allclose(ctx.sample(np.arange(10), 0), X)  # the whole image: unchanged
    tiny = make_context("crop(alpha=0.01)").fit(X)
    assert tiny.crop_side_ == 1
    a = tiny.sample(np.array([3]), 0)
    assert np.allclose(a, a[0, 0]) and a[0, 0] in X[3]  # one pixel, blown up
    ctx = make_context("crop(alpha=0.2)").fit(X)
    assert ctx.crop_side_ == 4  # round(8·√0.2) = 4
    img = np.arange(64.0).reshape(8, 8)  # a linear ramp stays a linear ramp under bilinear zoom
    out = make_context("crop(alpha=0.25)").fit(img.reshape(1, 64)).sample(np.array([0]), 5)
    out = out.reshape(8, 8)
    np.testing.assert_allclose(np.diff(out, 2, axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(np.diff(out, 2, axis=1), 0, atol=1e-12)
    assert np.allclose(bilinear_matrix(5, 3).sum(1), 1.0)
    with pytest.raises(ParameterError, match="sample-only"):
        ctx.operator()
    with pytest.raises(ParameterError, match="square"):
        make_context("crop").fit(rng.normal(size=(5, 10)))
    with pytest.raises(ParameterError, match="alpha"):
        make_context("crop(alpha=0)").fit(X)
    assert ctx.access == "sample"


def test_crop_on_digits():
    from sklearn.datasets import load_digits

    X = load_digits().data[:50]
    ctx = make_context("crop(alpha=0.2)").fit(X)
    a = ctx.sample(np.arange(50), random_state=0)
    assert a.shape == (50, 64)
    assert a.min() >= X.min() - 1e-12 and a.max() <= X.max() + 1e-12  # interpolation: no overshoot
