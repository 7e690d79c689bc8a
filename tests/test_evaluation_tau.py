"""τ against hand-computed spectra (docs/theory.md §3): the d range, the denominator to d0, abstention."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contextures.evaluation import tau, tau_curve
from contextures.exceptions import ParameterError


def test_hand_computed_curve():
    # s² = .81 .25 .09 .01, Σ_{i≤4} = 1.16
    r = tau([0.9, 0.5, 0.3, 0.1], beta=1.0, d0=4)
    expected = [1 / (1 - 0.25) + 0.81 / 1.16,
                1 / (1 - 0.09) + 1.06 / 1.16,
                1 / (1 - 0.01) + 1.15 / 1.16]
    np.testing.assert_allclose(r.curve, expected, rtol=1e-14)
    assert r.curve.shape == (3,)  # d = 1 .. d0 − 1
    np.testing.assert_array_equal(r.dims, [1, 2, 3])
    assert r.d == 3 and r.tau == pytest.approx(expected[2], rel=1e-14)
    assert r.abstain  # 2.0015 ≥ 0.95 · 2


def test_denominator_runs_to_d0_only():
    s = [0.9, 0.5, 0.3, 0.1, 0.05, 0.01]
    r4 = tau(s, d0=4)
    np.testing.assert_allclose(r4.curve, tau([0.9, 0.5, 0.3, 0.1], d0=4).curve, rtol=1e-15)
    r3 = tau(s, d0=3)  # Σ_{i≤3} = 1.15; d = 1, 2; s_{d+1} from inside the first d0 values
    np.testing.assert_allclose(r3.curve, [1 / 0.75 + 0.81 / 1.15, 1 / 0.91 + 1.06 / 1.15],
                               rtol=1e-14)


def test_beta_weights_the_second_term():
    r = tau([0.9, 0.5, 0.3, 0.1], beta=2.5, d0=4)
    np.testing.assert_allclose(r.curve[0], 1 / 0.75 + 2.5 * 0.81 / 1.16, rtol=1e-14)
    assert r.beta == 2.5


def test_flat_spectrum_is_ranked_not_abstained():
    r = tau(np.full(8, 0.5), d0=8)  # τ_d = 4/3 + d/8
    np.testing.assert_allclose(r.curve, 4 / 3 + np.arange(1, 8) / 8, rtol=1e-14)
    assert r.d == 1 and r.tau == pytest.approx(4 / 3 + 1 / 8)
    assert not r.abstain


def test_weak_association_abstains():
    # s_1 dominates: τ_1 ≈ 1 + β
    r = tau([0.99] + [1e-4] * 9, d0=10)
    assert r.tau == pytest.approx(2.0, abs=1e-6) and r.abstain
    assert not tau([0.99] + [1e-4] * 9, d0=10, tol=0.0).abstain  # just below β + 1


def test_unit_singular_values_give_infinity():
    r = tau([1.0, 1.0, 0.5, 0.2], d0=4)
    assert np.isinf(r.curve[0])
    total = 1 + 1 + 0.25 + 0.04
    np.testing.assert_allclose(r.curve[1:], [1 / 0.75 + 2 / total, 1 / 0.96 + 2.25 / total])
    every = tau([1.0, 1.0, 1.0], d0=3)
    assert np.isinf(every.tau) and every.abstain and every.d == 1


def test_tiny_excess_is_clipped():
    r = tau([1 + 1e-12, 0.5, 0.5 + 1e-12, 0.2], d0=4)
    np.testing.assert_allclose(r.curve, tau([1.0, 0.5, 0.5, 0.2], d0=4).curve, rtol=1e-10)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"singular_values": [0.9, 1.2, 0.1], "d0": 3}, "must lie in \\[0, 1\\]"),
        ({"singular_values": [0.9, -0.1, -0.2], "d0": 3}, "must lie in \\[0, 1\\]"),
        ({"singular_values": [0.5, 0.9, 0.1], "d0": 3}, "sorted non-increasing"),
        ({"singular_values": [0.9, np.nan, 0.1], "d0": 3}, "NaN"),
        ({"singular_values": [0.9, 0.5, 0.1], "d0": 3, "beta": 0}, "beta must be > 0"),
        ({"singular_values": [0.9, 0.5, 0.1], "d0": 3, "beta": -1}, "beta must be > 0"),
        ({"singular_values": [0.9, 0.5, 0.1, 0.05], "d0": 5},
         "needs d0 = 5 singular values .* got 4"),
        ({"singular_values": [0.9, 0.5], "d0": 1}, "d0 must be"),
        ({"singular_values": [0.0, 0.0, 0.0], "d0": 3}, "all-zero"),
        ({"singular_values": [[0.9, 0.5]], "d0": 2}, "one-dimensional"),
    ],
)
def test_bad_input(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        tau(**kwargs)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=2, max_size=30), st.floats(0.1, 5.0),
       st.integers(2, 30))
def test_curve_matches_the_formula_term_by_term(values, beta, d0):
    s = np.sort(np.array(values))[::-1]
    if d0 > s.size or (s[:d0] ** 2).sum() == 0:
        return
    curve = tau_curve(s, beta=beta, d0=d0)
    total = sum(x * x for x in s[:d0])
    for d in range(1, d0):
        gap = 1 - s[d] ** 2  # s_{d+1} is s[d] (0-based)
        first = np.inf if gap == 0 else 1 / gap
        expected = first + beta * sum(x * x for x in s[:d]) / total
        if np.isinf(expected):
            assert np.isinf(curve[d - 1])
        else:
            assert curve[d - 1] == pytest.approx(expected, rel=1e-12)
