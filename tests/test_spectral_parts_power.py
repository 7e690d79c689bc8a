"""Row-split iterations and the float32 iteration on M³ give the answers of the plain ones.

- ``RowParts`` covers the rows, runs every part, and adds partial results in part order;
- split sparse products equal the serial ones bit for bit;
- a Krylov run split over two threads agrees with the serial run and repeats bit for bit;
- a float32 run on M³ finds the spectrum of M (dense ``eigh`` reference), and gives way to M when
  the wanted eigenvalues are small;
- the new options are checked.
"""

import threading

import numpy as np
import pytest
import scipy.sparse as sp

from contextures.contexts import make_context
from contextures.contexts.operator import ContextOperator
from contextures.exceptions import ParameterError, SpecError
from contextures.spectral import solve, solve_krylov
from contextures.spectral.iterative import POWER_FLOOR
from contextures.spectral.parts import RowParts, split
from contextures.spectral.products import GramProducts
from contextures.spectral.select import parse_solver


@pytest.fixture(scope="module")
def knn_op():
    X = np.random.default_rng(0).standard_normal((1200, 4))
    return make_context("knn(k=10)").fit(X).operator()


@pytest.fixture(scope="module")
def dense_reference(knn_op):
    return solve(knn_op, 30, "dense")


@pytest.mark.parametrize("n, parts", [(10, 3), (7, 7), (5, 1), (1001, 2)])
def test_split_covers_the_range_in_contiguous_parts(n, parts):
    slices = split(n, parts)
    assert len(slices) == parts
    assert slices[0].start == 0 and slices[-1].stop == n
    assert all(a.stop == b.start for a, b in zip(slices[:-1], slices[1:], strict=True))
    sizes = [s.stop - s.start for s in slices]
    assert max(sizes) - min(sizes) <= 1


def test_parts_run_every_part_and_add_in_part_order():
    with RowParts(100, 3) as parts:
        assert parts.count == 3
        names = parts.run(lambda i: threading.current_thread().name)
        assert names[0] == threading.current_thread().name      # part 0 on the caller
        assert all(name.startswith("rowparts") for name in names[1:])
        # float32 addition is not associative: the total is ((p0 + p1) + p2) = 0 every time,
        # where p0 + (p1 + p2) would be 1
        values = [np.float32(1.0), np.float32(1e8), np.float32(-1e8)]
        assert (values[0] + values[1]) + values[2] != values[0] + (values[1] + values[2])
        for _ in range(20):
            assert parts.sum(lambda i: values[i]) == (values[0] + values[1]) + values[2]
        total = parts.sum(lambda i: (i, np.full(2, float(i))))
        assert total[0] == 3 and total[1].tolist() == [3.0, 3.0]
    assert RowParts(3, 8).count == 3          # never more parts than rows
    assert RowParts(50, 1).run(lambda i: i) == [0]


def test_split_products_equal_the_serial_ones(knn_op):
    rng = np.random.default_rng(1)
    n, m = knn_op.shape
    serial = GramProducts(knn_op, dtype=np.float32, reorder=True)
    parted = GramProducts(knn_op, dtype=np.float32, reorder=True)
    with RowParts(n, 2, m) as parts:
        parted.split(parts)
        assert parted.parts is parts
        V = rng.standard_normal((n, 16)).astype(np.float32)
        np.testing.assert_array_equal(parted(V), serial(V))
        U = rng.standard_normal((n, 40))
        for a, b in zip(parted.products64(U), serial.products64(U), strict=True):
            np.testing.assert_array_equal(a, b)


def test_split_iteration_agrees_with_the_serial_one_and_repeats(knn_op, dense_reference):
    serial = solve_krylov(knn_op, 30, precision="float32", split=False, random_state=0, threads=2)
    first = solve_krylov(knn_op, 30, precision="float32", split=True, random_state=0, threads=2)
    again = solve_krylov(knn_op, 30, precision="float32", split=True, random_state=0, threads=2)
    assert "rows split over 2 threads" in first.notes[0]
    assert "rows split" not in serial.notes[0]
    for result in (serial, first):
        np.testing.assert_allclose(result.eigenvalues, dense_reference.eigenvalues, atol=1e-8)
        assert result.converged
    np.testing.assert_array_equal(first.eigenvalues, again.eigenvalues)
    np.testing.assert_array_equal(first.left_vectors, again.left_vectors)
    # one thread: nothing to split over
    single = solve_krylov(knn_op, 30, precision="float32", split=True, random_state=0, threads=1)
    assert "rows split" not in single.notes[0]


def test_float32_iteration_on_the_cube_finds_the_spectrum_of_m(knn_op, dense_reference):
    cube = solve_krylov(knn_op, 30, precision="float32", random_state=0)
    plain = solve_krylov(knn_op, 30, precision="float32", power=1, random_state=0)
    assert "Krylov-Schur on M^3" in cube.notes[0]
    assert "Krylov-Schur:" in plain.notes[0]
    assert dense_reference.eigenvalues[-1] > POWER_FLOOR   # the cube is kept for this spectrum
    for result in (cube, plain):
        np.testing.assert_allclose(result.eigenvalues, dense_reference.eigenvalues, atol=1e-8)
        assert result.converged and result.max_residual < 1e-4
        U = result.left_vectors
        np.testing.assert_allclose(U.T @ U, np.eye(30), atol=1e-12)
    # the cube needs fewer block steps: products per step are 3b instead of b
    assert cube.products < 3 * plain.products


def random_neighbour_operator(n=900, k=100, seed=2):
    """P⁺ uniform on k random other points: an expander, whose s_i² (i ≥ 1) are all small."""
    rng = np.random.default_rng(seed)
    cols = (np.arange(n)[:, None] + rng.integers(1, n, size=(n, k))) % n
    P = sp.csr_matrix((np.full(n * k, 1.0 / k), cols.ravel(), np.arange(0, n * k + 1, k)),
                      shape=(n, n))
    return ContextOperator(P)


def test_the_cube_gives_way_to_m_when_the_wanted_eigenvalues_are_small():
    op = random_neighbour_operator()
    reference = solve(op, 12, "dense")
    assert reference.eigenvalues[-1] < POWER_FLOOR
    result = solve_krylov(op, 12, precision="float32", random_state=0)
    assert any("run again on M" in note for note in result.notes)
    assert "Krylov-Schur:" in result.notes[1]
    # float32 residuals of ~1e-5 on eigenvalues this close together: errors of a few 1e-8
    np.testing.assert_allclose(result.eigenvalues, reference.eigenvalues, atol=1e-7)
    assert result.converged


def test_power_needs_float32_and_is_checked_in_specs(knn_op):
    with pytest.raises(ParameterError, match="float32"):
        solve_krylov(knn_op, 5, precision="float64", power=3)
    for bad in (0, 1.5, True):
        with pytest.raises(ParameterError, match="power"):
            solve_krylov(knn_op, 5, precision="float32", power=bad)
    with pytest.raises(SpecError, match="power"):
        parse_solver("krylov(power=0)")
    with pytest.raises(SpecError, match="split"):
        parse_solver("krylov(split=2)")
    assert parse_solver("krylov(power=2,split=false)").params == {"power": 2, "split": False}
