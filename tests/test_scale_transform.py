"""``Contexture.transform`` works in row blocks: on 200 000 new rows its working memory beyond the
n × d result stays near a few blocks (measured with tracemalloc, which numpy reports to), a dense
RBF extension whose whole transition matrix is over the memory budget still runs (slow: 20 s),
and every row equals its transform alone."""

import tracemalloc

import numpy as np
import pytest

from contextures.spectral import Contexture
from contextures.spectral import estimator as est

N_NEW = 200_000


def _rows(n, seed):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(6, 8))
    return centres[rng.integers(6, size=n)] + rng.normal(size=(n, 8))


@pytest.mark.parametrize("context", ["knn(k=20)",
                                     pytest.param("rbf(gamma=median)", marks=pytest.mark.slow)])
def test_transform_of_200000_rows_in_bounded_memory(context, monkeypatch):
    X_fit, X_new = _rows(1500, 0), _rows(N_NEW, 1)
    model = Contexture(context, n_components=24, random_state=0).fit(X_fit)
    d = model.n_components_resolved_
    assert d >= 4
    # the dense transition of all rows (200 000 × 1500 × 8 B = 2.4 GB) is over this budget
    monkeypatch.setenv("CONTEXTURES_MEMORY_BUDGET", "512M")
    tracemalloc.start()
    try:
        Z = model.transform(X_new)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert Z.shape == (N_NEW, d) and np.isfinite(Z).all()
    extra = peak - Z.nbytes
    assert extra < 4 * est.TRANSFORM_BLOCK_BYTES, f"{extra / 2**20:.0f} MiB beyond the result"
    some = np.random.default_rng(2).choice(N_NEW, size=300, replace=False)
    np.testing.assert_allclose(Z[some], model.transform(X_new[some]), rtol=0, atol=1e-12)


def test_blocks_do_not_change_the_result(monkeypatch):
    X_fit, X_new = _rows(400, 3), _rows(1500, 4)
    for context in ("knn(k=10)", "rbf(gamma=median)", "mix(knn(k=10),rbf(gamma=median))"):
        model = Contexture(context, n_components=12, random_state=0).fit(X_fit)
        whole = model.transform(X_new)
        monkeypatch.setattr(est, "TRANSFORM_BLOCK_BYTES", 50_000)  # blocks of a few rows
        np.testing.assert_allclose(model.transform(X_new), whole, rtol=0, atol=1e-13)
        assert model.transform(X_new[:1]).shape == (1, whole.shape[1])
        monkeypatch.undo()
