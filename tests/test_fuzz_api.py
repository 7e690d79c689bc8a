"""Property-based fuzzing of the public API with hostile inputs.

Every call either returns a result that passes the invariants of the theory (singular values
sorted and in [0, 1]; eigenfunctions of mean 0, unit variance and uncorrelated on the sample;
τ ≥ 1; errors and accuracies in range; ρ ∈ [0, 1]) or raises a ``ContexturesError`` subclass with
a message. Any other exception, a NaN in a result, or a crash of the interpreter is a bug.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from _fuzz_lib import (
    FUZZ,
    check_error,
    check_orthonormal,
    check_spectrum,
    context_specs,
    float_matrices,
    frames,
)
from contextures.contexts import make_context
from contextures.datasets import load_dataset, prepare
from contextures.encoders import ContextureEncoder
from contextures.evaluation import (
    compatibility,
    decay_rate,
    knn_probe,
    ridge_probe_curve,
    tau,
)
from contextures.exceptions import ContexturesError
from contextures.spectral import Contexture

pytestmark = pytest.mark.filterwarnings("ignore")

VALID_CONTEXTS = ["knn(k=2)", "knn(k=3,include_self=true)", "rbf(gamma=0.5)", "rbf",
                  "knn_mask(k=2,p=0.3,masks=3)", "rbf_mask(gamma=1,p=0.2,masks=2)",
                  "scarf(p=0.3)", "noise(sigma=0.5)", "cutmix(p=0.3)", "label",
                  "label(balanced=true)", "teacher", "mix(0.5*knn(k=2),0.5*rbf(gamma=1))",
                  "conv(knn(k=2),knn(k=2))", "concat(knn(k=2),label)"]
EXACT_SOLVERS = ["auto", "dense", "svd_thin", "arpack", "krylov"]


def fit_or_refuse(model, X, y=None):
    """Fit; a refusal must be a typed error with a message (returns None then)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return model.fit(X, y)
    except Exception as exc:  # noqa: BLE001 - the point is to classify every exception
        check_error(exc)
        return None


def check_contexture(model: Contexture, exact: bool = True) -> None:
    """The invariants of a fitted Contexture."""
    concat = getattr(model, "components_", None) is not None
    parts = model.components_ if concat else [model]
    for part in parts:
        check_spectrum(part.singular_values_)
        assert np.isfinite(part.residuals_).all()
        if exact and part.result_ is not None and part.result_.exact:
            op_weights = getattr(part.context_, "sample_weight_", None)
            check_orthonormal(part.eigenfunctions_, op_weights)
    assert model.eigenfunctions_.shape[1] == model.singular_values_.size


@FUZZ
@given(X=float_matrices(), context=st.sampled_from(VALID_CONTEXTS), d=st.integers(1, 3),
       solver=st.sampled_from(EXACT_SOLVERS), seed=st.integers(0, 3))
def test_contexture_on_hostile_tables(X, context, d, solver, seed):
    y = np.arange(X.shape[0]) % 3
    model = fit_or_refuse(Contexture(context, n_components=d, solver=solver, random_state=seed),
                          X, y)
    if model is None:
        return
    check_contexture(model)
    # the out-of-sample extension on new points: finite, or a typed refusal
    new = X[:2] + 0.25
    try:
        Z = model.transform(new)
    except Exception as exc:  # noqa: BLE001
        check_error(exc)
    else:
        assert Z.shape == (2, model.n_components_resolved_) and np.isfinite(Z).all()


@FUZZ
@given(spec=context_specs(), d=st.integers(1, 3))
def test_random_context_specs_build_fit_or_refuse(spec, d):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((24, 3))
    y = np.arange(24) % 2
    try:
        context = make_context(spec)
    except Exception as exc:  # noqa: BLE001
        check_error(exc)
        return
    model = fit_or_refuse(Contexture(context, n_components=d, random_state=0), X, y)
    if model is not None:
        check_contexture(model)


@FUZZ
@given(X=float_matrices(max_rows=30, max_cols=6),
       solver=st.sampled_from(["nystrom(m=8)", "subsample(m=12)", "matrix_free",
                               "krylov(tol=1e-300)", "nystrom(m=0)", "nystrom(m=-3)",
                               "dense(x=1)", "lanczos", "auto(tol=abc)"]))
def test_approximate_and_bad_solvers(X, solver):
    model = fit_or_refuse(Contexture("knn(k=3)", n_components=2, solver=solver, random_state=0),
                          X)
    if model is not None:
        check_spectrum(model.singular_values_)
        assert np.isfinite(model.eigenfunctions_).all()


@FUZZ
@given(values=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), max_size=40),
       sort=st.booleans(), beta=st.sampled_from([1.0, 0.5, 0.0, -1.0, float("nan"), "x", 3]),
       d0=st.sampled_from([2, 3, 8, 64, 1, 0, -2, 2.5, "8"]),
       tol=st.sampled_from([0.05, 0.0, 0.99, 1.0, -0.1, "abc", None, float("nan")]))
def test_tau_is_at_least_one_or_refused(values, sort, beta, d0, tol):
    s = np.array(values)
    if sort:
        s = np.sort(np.abs(np.nan_to_num(s)) % 1.0)[::-1]
    try:
        result = tau(s, beta=beta, d0=d0, tol=tol)
    except Exception as exc:  # noqa: BLE001
        check_error(exc)
        return
    assert result.tau >= 1.0
    assert 1 <= result.d < result.d0
    assert np.all(result.curve[np.isfinite(result.curve)] >= 1.0)
    rate = decay_rate(s[: result.d0])
    assert np.isfinite(rate) or rate == np.inf


@FUZZ
@given(F=float_matrices(max_rows=30, max_cols=5), task=st.sampled_from(["regression",
                                                                       "classification"]),
       classes=st.integers(1, 4))
def test_probes_stay_in_range_or_refuse(F, task, classes):
    n = F.shape[0]
    y = (np.arange(n) % classes) if task == "classification" else np.linspace(0, 1, n) ** 2
    half = max(1, n // 2)
    try:
        curve = ridge_probe_curve(F[:half], y[:half], F_test=F[half:], y_test=y[half:], task=task)
    except Exception as exc:  # noqa: BLE001
        check_error(exc)
    else:
        assert np.isfinite(curve.errors).all() and (curve.errors >= 0).all()
        if curve.accuracy is not None:
            assert ((curve.accuracy >= 0) & (curve.accuracy <= 1)).all()
        assert curve.error == curve.errors.min()
    try:
        result = knn_probe(F[:half], y[:half], F[half:], y[half:], task=task, n_neighbors=2)
    except Exception as exc:  # noqa: BLE001
        check_error(exc)
    else:
        assert np.isfinite(result.error) and result.error >= 0
        if task == "classification":
            # the neighbour class frequencies sum to 1 per row, so the one-hot MSE is ≤ 2 / C
            assert result.error <= 2.0 / len(np.unique(y[:half])) + 1e-12
            assert 0 <= result.accuracy <= 1


@FUZZ
@given(seed=st.integers(0, 100), n=st.integers(3, 30), d=st.integers(1, 4),
       hostile=st.sampled_from(["none", "nan_f", "constant_f", "short_s", "unsorted_s", "big_s"]))
def test_compatibility_is_between_zero_and_one_or_refused(seed, n, d, hostile):
    rng = np.random.default_rng(seed)
    mu = rng.standard_normal((n, d))
    s = np.sort(rng.random(d))[::-1]
    f = rng.standard_normal(n)
    if hostile == "nan_f":
        f[0] = np.nan
    elif hostile == "constant_f":
        f[:] = 2.0
    elif hostile == "short_s":
        s = s[:-1]
    elif hostile == "unsorted_s":
        s = s[::-1].copy()
    elif hostile == "big_s":
        s = s + 1.5
    try:
        result = compatibility(f, mu, s)
    except Exception as exc:  # noqa: BLE001
        check_error(exc)
        return
    assert 0.0 <= result.rho <= 1.0 + 1e-12


@FUZZ
@given(frame=frames(), target_pick=st.integers(0, 100), task=st.sampled_from([None, "regression",
                                                                               "classification"]))
def test_csv_tables_load_prepare_and_fit_or_refuse(frame, target_pick, task):
    target = frame.columns[target_pick % frame.shape[1]]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hostile table ü.csv"
        frame.to_csv(path, index=False)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                dataset = load_dataset(f"csv:{path}:{target}", task=task)
                prepared = prepare(dataset, split_seed=0)
        except Exception as exc:  # noqa: BLE001
            check_error(exc)
            return
    sizes = [prepared.X_pre.shape[0], prepared.X_train.shape[0], prepared.X_test.shape[0]]
    assert sum(sizes) == dataset.n_rows
    for X in (prepared.X_pre, prepared.X_train, prepared.X_test):
        assert X.dtype == np.float64 and np.isfinite(X).all()
        assert X.shape[1] == prepared.n_features == len(prepared.feature_names)
    if prepared.task == "classification":
        assert prepared.y_pre.dtype == np.int64
        assert prepared.y_pre.min() >= 0 and prepared.y_pre.max() < prepared.n_classes
    model = fit_or_refuse(Contexture("knn(k=2)", n_components=1, random_state=0),
                          prepared.X_pre)
    if model is not None:
        check_contexture(model)


@FUZZ
@given(X=float_matrices(max_rows=20, max_cols=4),
       context=st.sampled_from(["knn(k=2)", "rbf(gamma=1)", "label", "scarf(p=0.2)"]),
       objective=st.sampled_from(["kise", "vicreg", "supervised", "svme", "bogus(x=1)"]))
def test_encoder_on_hostile_tables_trains_or_refuses(X, context, objective):
    y = np.arange(X.shape[0]) % 2
    enc = ContextureEncoder(context, objective=objective, n_components=1, hidden=8, depth=1,
                            epochs=2, random_state=0, n_threads=1, output_dim=2)
    fitted = fit_or_refuse(enc, X, y)
    if fitted is None:
        return
    check_spectrum(fitted.singular_values_, atol=1e-6)
    Z = fitted.transform(X)
    assert np.isfinite(Z).all() and Z.shape == (X.shape[0], 1)


def test_known_hostile_cases_are_refused_with_a_message():
    """Regression cases the fuzzing found (each gave a wrong number or a crash before its fix)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 3))
    cases = [
        # squared distances overflow: unguarded, every neighbour ties (a wrong spectrum) and
        # conv(knn, knn) crashes the interpreter (invalid neighbour indices)
        (Contexture("knn(k=3)", n_components=2), X * 1e300, "overflow"),
        (Contexture("conv(knn(k=3),knn(k=2))", n_components=2), X * 1e300, "overflow"),
        # squared distances underflow to 0 although the rows differ
        (Contexture("knn(k=3)", n_components=2), X * 1e-300, "underflow"),
    ]
    for model, data, fragment in cases:
        with pytest.raises(ContexturesError, match=fragment):
            model.fit(data)
    with pytest.raises(ContexturesError, match="tol"):
        tau(np.linspace(0.9, 0.1, 8), d0=8, tol="abc")


# Solver options the fuzzing found unvalidated (each gave a bare ValueError, TypeError,
# ZeroDivisionError or SystemError, or was silently accepted); now each is a SpecError.
UNVALIDATED_SOLVER_OPTIONS = ["krylov(block_size=-1)", "krylov(block_size=0)",
                              "krylov(block_size=abc)", "krylov(tol=abc)",
                              "matrix_free(tol=abc)", "nystrom(m=abc)", "subsample(m=abc)",
                              "arpack(tol=abc)", "krylov(max_restarts=-1)", "krylov(keep=-1)",
                              "krylov(tol=-1)", "krylov(use_torch=abc)",
                              "krylov(block_size=1.5)", "krylov(precision=float16)"]


def test_solver_options_are_validated():
    X = np.random.default_rng(0).standard_normal((60, 3))
    bare = []
    for solver in UNVALIDATED_SOLVER_OPTIONS:
        try:
            Contexture("knn(k=3)", n_components=2, solver=solver, random_state=0).fit(X)
        except ContexturesError:
            continue
        except Exception as exc:  # noqa: BLE001
            bare.append(f"{solver}: {type(exc).__name__}")
        else:
            bare.append(f"{solver}: accepted")
    assert not bare, bare
