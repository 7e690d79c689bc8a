"""Robust probes: each risk against a direct computation of its definition, and the fits."""

import itertools
import math

import numpy as np
import pytest
from scipy.optimize import linprog, minimize, minimize_scalar

from contextures.evaluation.robust import (
    OBJECTIVES,
    RobustProbe,
    chi2_risk,
    group_errors,
    rank_mass_weights,
    risk,
)
from contextures.exceptions import ParameterError


def cvar_by_lp(losses, mass, alpha):
    """sup {Σ q_i ℓ_i : 0 ≤ q_i ≤ p_i / α, Σ q_i = 1}, by linear programming."""
    res = linprog(-np.asarray(losses), A_eq=np.ones((1, len(losses))), b_eq=[1.0],
                  bounds=[(0.0, p / alpha) for p in mass], method="highs")
    return -res.fun


def chi2_by_primal(losses, rho):
    """sup {E_q ℓ : q a distribution, ½ Σ_i (1/n)(n q_i − 1)² ≤ ρ}, by SLSQP."""
    n = len(losses)
    cons = [{"type": "eq", "fun": lambda q: q.sum() - 1.0},
            {"type": "ineq", "fun": lambda q: rho - 0.5 * np.sum((n * q - 1.0) ** 2) / n}]
    best = -np.inf
    for start in (np.full(n, 1.0 / n), np.eye(n)[int(np.argmax(losses))] * 0.5 + 0.5 / n):
        res = minimize(lambda q: -q @ losses, start, constraints=cons, bounds=[(0, 1)] * n,
                       method="SLSQP", options={"ftol": 1e-12, "maxiter": 500})
        best = max(best, -res.fun)
    return best


@pytest.mark.parametrize("alpha", [0.1, 0.25, 0.37, 1.0])
def test_cvar_is_the_mean_of_the_worst_alpha_share(alpha):
    rng = np.random.default_rng(1)
    losses = rng.exponential(size=13)
    value, w = risk(losses, "cvar", alpha=alpha)
    assert value == pytest.approx(cvar_by_lp(losses, np.full(13, 1 / 13), alpha), abs=1e-10)
    # the dual form inf_η η + E(ℓ − η)_+ / α
    dual = minimize_scalar(lambda e: e + np.mean(np.clip(losses - e, 0, None)) / alpha,
                           bounds=(0, losses.max()), method="bounded",
                           options={"xatol": 1e-12}).fun
    assert value == pytest.approx(dual, abs=1e-8)
    assert w.sum() == pytest.approx(1.0) and np.all(w >= 0)


@pytest.mark.parametrize("rho", [0.3, 1.0, 8.0])
def test_chi2_dual_closed_form_matches_the_primal_and_a_scalar_search(rho):
    rng = np.random.default_rng(2)
    losses = rng.exponential(size=9)
    value, w = risk(losses, "chi2", rho=rho)
    C = math.sqrt(1 + 2 * rho)
    dual = minimize_scalar(lambda e: C * math.sqrt(np.mean(np.clip(losses - e, 0, None) ** 2))
                           + e, bounds=(losses.min() - 50, losses.max()), method="bounded",
                           options={"xatol": 1e-12}).fun
    assert value == pytest.approx(min(dual, losses.max()), abs=1e-7)
    assert value == pytest.approx(chi2_by_primal(losses, rho), abs=1e-5)
    assert w.sum() == pytest.approx(1.0)


def test_chi2_gradient_matches_finite_differences():
    rng = np.random.default_rng(3)
    losses = rng.exponential(size=12)
    mass = np.full(12, 1 / 12)
    _, g = chi2_risk(losses, mass, 2.0)
    for i in range(12):
        e = np.zeros(12)
        e[i] = 1e-6
        fd = (chi2_risk(losses + e, mass, 2.0)[0] - chi2_risk(losses - e, mass, 2.0)[0]) / 2e-6
        assert g[i] == pytest.approx(fd, abs=1e-6)


@pytest.mark.parametrize("eps,alpha", [(0.2, 0.5), (0.1, 0.3)])
def test_doro_cvar_is_the_least_cvar_over_every_removal_of_an_eps_share(eps, alpha):
    rng = np.random.default_rng(4)
    n = 10
    losses = rng.exponential(size=n)
    value, _ = risk(losses, "doro", alpha=alpha, eps=eps)
    # P = (1 − ε) P' + ε P̃ with εn whole rows removed: every subset of εn rows
    k = round(eps * n)
    best = np.inf
    for removed in itertools.combinations(range(n), k):
        keep = np.setdiff1d(np.arange(n), removed)
        best = min(best, cvar_by_lp(losses[keep], np.full(keep.size, 1 / keep.size), alpha))
    assert value == pytest.approx(best, abs=1e-10)


def test_doro_on_chi2_drops_the_largest_losses_then_applies_chi2():
    rng = np.random.default_rng(5)
    losses = rng.exponential(size=20)
    value, _ = risk(losses, "doro", eps=0.1, rho=1.0, doro_base="chi2")
    kept = np.sort(losses)[:18]
    assert value == pytest.approx(risk(kept, "chi2", rho=1.0)[0], abs=1e-10)


def test_reweight_gives_every_group_the_same_weight():
    losses = np.array([1.0, 2.0, 3.0, 10.0])
    groups = np.array(["a", "a", "a", "b"])
    value, w = risk(losses, "reweight", groups=groups)
    assert value == pytest.approx(0.5 * 2.0 + 0.5 * 10.0)
    assert w.tolist() == pytest.approx([1 / 6, 1 / 6, 1 / 6, 1 / 2])


def test_tied_losses_share_the_window_weight():
    w = rank_mass_weights(np.array([1.0, 1.0, 1.0, 1.0]), 0.0, 0.5)
    assert w.tolist() == pytest.approx([0.25] * 4)


def _data(task, n=80, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    groups = np.where(rng.random(n) < 0.8, "big", "small")
    y = X[:, 0] + 0.3 * rng.normal(size=n) + np.where(groups == "small", 1.5, 0.0) * X[:, 1]
    if task == "classification":
        y = (y > 0).astype(int)
    return X, y, groups


@pytest.mark.parametrize("task", ["regression", "classification"])
@pytest.mark.parametrize("objective", OBJECTIVES)
def test_each_probe_minimises_its_own_objective(task, objective):
    X, y, g = _data(task)
    fitted = {o: RobustProbe(o, task, l2=1e-2).fit(X, y, g) for o in OBJECTIVES}
    probe = fitted[objective]
    # the reported objective is the direct computation R(ℓ) + λ‖W‖² at the solution
    assert probe.objective_value_ == pytest.approx(probe.objective_at(X, y, g), rel=1e-9)

    def direct(model):  # R(ℓ) + λ‖W‖² of ``objective`` at another model's parameters
        Z = model.decision_function(X)
        if task == "regression":
            ell = (y - Z) ** 2
        else:
            ell = np.log(np.exp(Z).sum(axis=1)) - Z[np.arange(len(y)), y]
        return risk(ell, objective, groups=g)[0] + 1e-2 * np.sum(model.coef_ ** 2)

    assert probe.objective_value_ == pytest.approx(direct(probe), rel=1e-9)
    # no other probe's solution does better on this objective (a local optimum at least)
    for other in fitted.values():
        assert probe.objective_value_ <= direct(other) * (1 + 1e-4) + 1e-8, other.objective


def test_cvar_probe_reaches_the_optimum_of_an_epigraph_solver():
    X, y, g = _data("regression", n=30, seed=1)
    probe = RobustProbe("cvar", "regression", alpha=0.3, l2=0.1).fit(X, y, g)
    Xs = (X - probe.mean_) / probe.scale_
    n, D = Xs.shape

    def f(z):  # z = (w, b, η, t): η + Σ t / (α n) + λ‖w‖², t_i ≥ (y_i − f_i)² − η, t ≥ 0
        return z[D + 1] + z[D + 2:].sum() / (0.3 * n) + 0.1 * z[:D] @ z[:D]

    cons = [{"type": "ineq", "fun": lambda z: z[D + 2:] - (y - Xs @ z[:D] - z[D]) ** 2
             + z[D + 1]}]
    start = np.concatenate([probe.coef_[:, 0], probe.intercept_, [0.0],
                            (y - probe.predict(X)) ** 2])
    res = minimize(f, start, constraints=cons, bounds=[(None, None)] * (D + 2) + [(0, None)] * n,
                   method="SLSQP", options={"ftol": 1e-12, "maxiter": 1000})
    assert probe.objective_value_ == pytest.approx(res.fun, rel=1e-4)


def test_probes_are_deterministic():
    X, y, g = _data("classification")
    a = RobustProbe("doro", "classification").fit(X, y, g)
    b = RobustProbe("doro", "classification").fit(X, y, g)
    assert np.array_equal(a.coef_, b.coef_)


def test_group_errors():
    out = group_errors(np.array([0, 1, 1, 0]), np.array([0, 0, 1, 0]), ["a", "a", "b", "b"],
                       "classification")
    assert out == {"average_error": 0.25, "worst_group_error": 0.5,
                   "per_group": {"a": 0.5, "b": 0.0}}


@pytest.mark.parametrize("params,word", [({"eps": 0.5}, "eps"), ({"eps": -0.1}, "eps"),
                                         ({"alpha": 0.0}, "alpha"), ({"rho": 0.0}, "rho"),
                                         ({"objective": "dro"}, "objective")])
def test_bad_parameters_are_refused(params, word):
    X, y, g = _data("regression")
    with pytest.raises(ParameterError, match=word):
        RobustProbe(**{"objective": "doro", **params}).fit(X, y, g)


def test_reweight_needs_groups():
    X, y, _ = _data("regression")
    with pytest.raises(ParameterError, match="group"):
        RobustProbe("reweight").fit(X, y)


def test_reweighting_meets_erm_once_the_probe_interpolates():
    """The mechanism of the GRW result in the exact solver: with D ≥ n features of full rank and
    λ → 0, every weighting fits the training rows exactly and the minimum-norm solution is the
    same; with D < n the group weights move the fit."""
    rng = np.random.default_rng(7)
    n = 40
    groups = np.where(np.arange(n) < 32, "big", "small")
    y = rng.normal(size=n) + np.where(groups == "small", 2.0, 0.0)

    def gap(D):
        X = rng.normal(size=(n, D))
        X_new = rng.normal(size=(200, D))
        erm = RobustProbe("erm", l2=1e-10).fit(X, y, groups).predict(X_new)
        rw = RobustProbe("reweight", l2=1e-10).fit(X, y, groups).predict(X_new)
        return np.linalg.norm(rw - erm) / np.linalg.norm(erm - erm.mean())

    assert gap(10) > 0.05
    assert gap(200) < 1e-6
