"""The batched cutmix density (``CutmixContext._compute`` and ``_weights``) against the draw-by-draw
reference (tests/_cutmix_reference.py): the same log q(a_s | x_i) on the candidates, baselines,
log P̂_A(a_s) and transition matrix P, to 1e-12 relative, and the same refusals."""

import numpy as np
import pytest

import contextures.contexts.cutmix as cutmix
from _cutmix_reference import ReferenceCutmix
from contextures.contexts.cutmix import CutmixContext
from contextures.exceptions import MemoryBudgetError, ParameterError

RTOL = 1e-12


def fitted_pair(X, p, draws=8, seed=0):
    new = CutmixContext(p=p, draws=draws, random_state=seed).fit(X)
    ref = ReferenceCutmix(p=p, draws=draws, random_state=seed).fit(X)
    assert np.array_equal(new.A_, ref.A_)
    return new, ref


def assert_same_logs(a, b):
    """Equal −inf positions and finite values equal to RTOL (relative to max(1, |b|))."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    assert np.array_equal(np.isfinite(a), np.isfinite(b))
    assert np.array_equal(a[~np.isfinite(a)], b[~np.isfinite(b)])
    fin = np.isfinite(b)
    np.testing.assert_allclose(a[fin], b[fin], rtol=RTOL, atol=RTOL)


def assert_same_density(new, ref):
    new._compute(None)
    ref._compute(None)
    C_new, vals_new, base_new = new._tables
    C_ref, vals_ref, base_ref = ref._tables
    assert np.array_equal(C_new.indptr, C_ref.indptr)
    assert np.array_equal(C_new.indices, C_ref.indices)
    assert_same_logs(vals_new, vals_ref)
    assert_same_logs(base_new, base_ref)
    assert_same_logs(new._log_pa, ref._log_pa)
    W_new, dropped_new = new._weights(None)
    W_ref, dropped_ref = ref._weights(None)
    assert np.array_equal(W_new.indptr, W_ref.indptr)
    assert np.array_equal(W_new.indices, W_ref.indices)
    np.testing.assert_allclose(W_new.data, W_ref.data, rtol=RTOL, atol=0)
    np.testing.assert_allclose(dropped_new, dropped_ref, rtol=1e-9, atol=1e-300)
    op_new, op_ref = new.operator(), ref.operator()
    np.testing.assert_allclose(op_new.P.toarray(), op_ref.P.toarray(), rtol=RTOL, atol=0)
    np.testing.assert_allclose(op_new.error, op_ref.error, rtol=1e-9)


def closed_form_cases(ctx):
    """(draws equal to a row with rows outside R, draws with a baseline) of a fitted context."""
    C, _, base = ctx._tables
    sizes = np.diff(C.indptr)
    n = ctx.n_samples_
    equal_row = np.array([np.any(np.all(ctx.X_ == a, axis=1)) for a in ctx.A_])
    return int(np.sum(equal_row & (sizes < n))), int(np.sum(np.isfinite(base)))


@pytest.mark.parametrize("F", [3, 6])
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_continuous_tables_match_the_reference(F, p):
    X = np.random.default_rng(F).normal(size=(40, F))
    new, ref = fitted_pair(X, p)
    assert_same_density(new, ref)


@pytest.mark.parametrize("F", [3, 6])
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_discrete_columns_match_the_reference(F, p):
    rng = np.random.default_rng(10 + F)
    X = rng.normal(size=(40, F))
    X[:, ::2] = rng.integers(0, 3, size=(40, X[:, ::2].shape[1]))  # values in {0, 1, 2}
    new, ref = fitted_pair(X, p)
    assert_same_density(new, ref)
    all_discrete = rng.integers(0, 3, size=(40, F)).astype(float)
    new, ref = fitted_pair(all_discrete, p, seed=3)
    assert_same_density(new, ref)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_duplicate_rows_match_the_reference(p):
    rng = np.random.default_rng(21)
    X = rng.normal(size=(40, 4))
    X[20:30] = X[:10]  # ten rows twice
    X[30:33] = X[0]  # one row five times
    new, ref = fitted_pair(X, p)
    assert_same_density(new, ref)


def test_both_closed_forms_are_exercised_and_match():
    # small p: many draws keep every feature (a row equal to the draw, partners outside R give
    # (1 − p)^F) and the rows outside R get the baseline p^F per row equal to the draw
    X = np.random.default_rng(5).normal(size=(40, 3))
    new, ref = fitted_pair(X, 0.1)
    assert_same_density(new, ref)
    equal_with_outside, with_baseline = closed_form_cases(new)
    assert equal_with_outside > 0 and with_baseline > 0
    # large p: draws equal to their partner (all features taken) also give baselines
    new, ref = fitted_pair(X, 0.9, seed=1)
    assert_same_density(new, ref)
    assert closed_form_cases(new)[1] > 0


def test_extreme_p_and_tiny_samples_match():
    rng = np.random.default_rng(8)
    for X, p in ((rng.normal(size=(2, 3)), 0.5), (rng.normal(size=(5, 2)), 1.0),
                 (rng.normal(size=(6, 1)), 0.3), (rng.integers(0, 2, (12, 5)).astype(float), 0.0)):
        new, ref = fitted_pair(X, p, draws=3)
        assert_same_density(new, ref)


def test_many_features_use_several_mask_words():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(25, 70))
    X[:, :40] = rng.integers(0, 3, size=(25, 40))
    new, ref = fitted_pair(X, 0.2, draws=3)
    assert_same_density(new, ref)


def test_small_batches_groups_and_baseline_blocks_change_nothing(monkeypatch):
    rng = np.random.default_rng(6)
    X = np.column_stack([rng.normal(size=(40, 3)), rng.integers(0, 3, size=(40, 2))])
    new, ref = fitted_pair(X, 0.3)
    monkeypatch.setattr(cutmix, "_BATCH_COMPARISONS", 37)
    monkeypatch.setattr(cutmix, "_GROUP_PAIRS", 11)
    monkeypatch.setattr(cutmix, "_BASELINE_BLOCK", 50)
    assert_same_density(new, ref)


def test_over_cost_requests_are_refused_with_the_same_messages():
    X = np.random.default_rng(9).integers(0, 3, size=(60, 4)).astype(float)
    for limit in (1.0, 5e3, 1e5):
        new, ref = fitted_pair(X, 0.3, draws=4)
        new.max_pair_evaluations = ref.max_pair_evaluations = limit
        with pytest.raises(ParameterError, match="feature-pair evaluations") as got:
            new.operator()
        with pytest.raises(ParameterError) as expected:
            ref.operator()
        assert str(got.value) == str(expected.value)
    new, ref = fitted_pair(X, 0.3, draws=4)
    new.max_candidates = ref.max_candidates = 100
    with pytest.raises(ParameterError, match="encoder") as got:
        new.operator()
    with pytest.raises(ParameterError) as expected:
        ref.operator()
    assert str(got.value) == str(expected.value)


def test_memory_budgets_are_checked_as_before():
    X = np.random.default_rng(11).normal(size=(40, 2))
    for budget in (1000, 20_000, 60_000, 10**9):
        new, ref = fitted_pair(X, 0.1)
        outcomes = []
        for ctx in (new, ref):
            try:
                ctx.operator(memory_budget=budget)
                outcomes.append("fits")
            except MemoryBudgetError as err:
                outcomes.append(str(err))
        assert outcomes[0] == outcomes[1]
