"""Context complexity κ and the two terms of the probe's error, against dense computations."""

import numpy as np
import pytest

from contextures.contexts import make_context
from contextures.evaluation.complexity import bound_terms, context_complexity, target_coefficients
from contextures.exceptions import ParameterError

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def sample():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    return X, np.sin(2 * X[:, 0]) + X[:, 1] ** 2


@pytest.mark.parametrize("spec", ["knn(k=5)", "knn(k=20)", "rbf(gamma=1.0)"])
def test_kappa_is_the_largest_kernel_diagonal(sample, spec):
    X, _ = sample
    ctx = make_context(spec).fit(X)
    M = ctx.operator().dense_gram()
    N = X.shape[0]
    c = context_complexity(ctx)
    assert c.kappa ** 2 == pytest.approx(N * np.diag(M).max(), rel=1e-10)
    # the mean of the diagonal is the trace: 1 + Σ_{i≥1} s_i²
    assert c.mean_diagonal == pytest.approx(np.linalg.eigvalsh(M).sum(), rel=1e-8)
    assert c.kappa ** 2 >= c.mean_diagonal >= 1.0
    assert c.quantiles[0.5] <= c.quantiles[0.99] <= c.kappa ** 2 + 1e-9
    assert c.as_json()["n_samples"] == N


def test_stronger_association_has_larger_complexity(sample):
    X, _ = sample
    kappas = [context_complexity(make_context(f"knn(k={k})").fit(X)).kappa for k in (3, 10, 40)]
    assert kappas[0] > kappas[1] > kappas[2]


def test_bound_terms_against_the_exact_decomposition(sample):
    X, y = sample
    ctx = make_context("knn(k=10)").fit(X)
    M = ctx.operator().dense_gram()
    N = X.shape[0]
    lam, U = np.linalg.eigh(M)
    lam, U = lam[::-1][1:], U[:, ::-1][:, 1:]        # s_1² ≥ …, constant excluded
    s = np.sqrt(np.clip(lam, 0, None))
    mu = np.sqrt(N) * U
    u, var = target_coefficients(mu, y)
    kappa = context_complexity(ctx).kappa
    for d in (1, 5, 20):
        t = bound_terms(s, n=50, d=d, kappa=kappa, coefficients=u, target_variance=var,
                        noise=0.1)
        # exact: the squared distance from y − ȳ to the span of μ_1..μ_d
        resid = (y - y.mean()) - mu[:, :d] @ u[:d]
        assert t.approximation == pytest.approx(np.mean(resid ** 2), rel=1e-8)
        assert t.approximation <= t.approximation_bound * (1 + 1e-9)
        assert t.estimation == pytest.approx(0.1 * (d + 1) / 50)
        # the leverage bound holds on every row
        assert (mu[:, :d] ** 2).sum(axis=1).max() <= t.leverage_bound * (1 + 1e-9)
        assert t.total == pytest.approx(t.estimation + t.approximation)
    assert bound_terms(s, 10**6, 5, kappa=kappa).enough_labels
    assert not bound_terms(s, 2, 5, kappa=kappa).enough_labels


@pytest.mark.parametrize("kwargs", [{"d": 0}, {"d": 3}, {"n": 0}, {"kappa": -1.0},
                                    {"coefficients": [1.0]}])
def test_bad_arguments(kwargs):
    args = {"singular_values": [0.9, 0.5, 0.1], "n": 10, "d": 1, "kappa": 2.0, **kwargs}
    with pytest.raises(ParameterError):
        bound_terms(**args)


# --- κ as a diagnostic of the one scoring function -----------------------------------------
def test_score_context_reports_kappa_when_asked(abalone):
    from contextures.evaluation.scoring import score_context

    X_fit = abalone.X_pre[:300]
    plain = score_context("knn(k=10)", abalone, d0=8, X_fit=X_fit, probe=False)
    assert plain.complexity is None and plain.record()["kappa"] is None
    score = score_context("knn(k=10)", abalone, d0=8, X_fit=X_fit, probe=False, complexity=True)
    ref = context_complexity(make_context("knn(k=10)").fit(X_fit))
    rec = score.record()
    assert rec["kappa"] == pytest.approx(ref.kappa)
    assert rec["kernel_trace"] == pytest.approx(ref.mean_diagonal)
    # with the other diagnostics, κ comes by default
    assert score_context("knn(k=10)", abalone, d0=8, X_fit=X_fit, probe=False,
                         diagnostics=True, diagnostic_rows=50,
                         lipschitz_rows=20).record()["kappa"] == pytest.approx(ref.kappa)



# --- the bound study ------------------------------------------------------------------------------
def test_bound_study_summary_reads_holds_tightness_and_ranking():
    from contextures.experiments.complexity_bound import BoundSettings, summarize

    def rec(ds, ctx, kappa, dims):
        return {"status": "ok", "config": {"dataset": ds, "context": ctx, "seed": 0},
                "result": {"task": "regression", "n_labelled": 50, "kappa": kappa,
                           "dims": [{"d": d, "approximation": b, "estimation": 0.0, "bound": b,
                                     "measured": m, "sample_requirement": 10.0,
                                     "in_regime": True, "resolved_used": d}
                                    for d, b, m in dims]}}

    records = [rec("a", "c1", 2.0, [(2, 1.0, 0.5), (4, 1.0, 2.0)]),
               rec("a", "c2", 4.0, [(2, 1.0, 0.8)]),
               rec("a", "c3", 8.0, [(2, 1.0, 0.9)]),
               {"status": "failed", "config": {"dataset": "b", "context": "c1", "seed": 0},
                "error": "boom"}]
    s = summarize(records, BoundSettings(datasets=("a", "b"), contexts=("c1", "c2", "c3"),
                                         dims=(2, 4)))
    assert s["overall"]["cells"] == 4 and s["overall"]["holds"] == pytest.approx(0.75)
    assert s["by_d"]["4"]["median_ratio"] == pytest.approx(2.0)
    assert s["kappa_ranking"]["median_spearman"] == pytest.approx(1.0)
    assert s["kappa_ranking"]["smallest_kappa_is_best"] == 1
    assert s["failed"][0]["dataset"] == "b"


@pytest.mark.slow
def test_bound_study_quick_run_writes_and_resumes(tmp_path):
    from contextures.experiments.complexity_bound import BoundSettings, run_bound_study

    s = run_bound_study(tmp_path, BoundSettings.quick(), backend="serial", progress=False)
    assert not s["failed"] and s["overall"]["cells"] > 0
    assert all(r["bound"] >= r["approximation"] >= 0 for r in s["rows"])
    assert "measured ≤ bound" in (tmp_path / "table.md").read_text()
    again = run_bound_study(tmp_path, BoundSettings.quick(), backend="serial", progress=False)
    assert again["rows"] == s["rows"]
