"""spectrum_values: the singular values alone, equal to the dense solver's."""

import numpy as np
import pytest

from contextures.contexts import ContextCache
from contextures.spectral import Contexture
from contextures.spectral.values import spectrum_values


@pytest.fixture(scope="module")
def X():
    rng = np.random.default_rng(3)
    return np.vstack([rng.normal(size=(120, 4)), rng.normal(loc=3.0, size=(80, 4))])


@pytest.mark.parametrize("spec", ["knn(k=10)", "rbf(gamma=0.5)",
                                  "knn_mask(k=8,p=0.25,masks=5)", "scarf(p=0.3,draws=20)"])
def test_values_equal_the_dense_solvers(X, spec):
    d = 40
    cache = ContextCache(X)
    s, solver = spectrum_values(spec, X, d, cache=cache)
    model = Contexture(spec, n_components=d, solver="dense", extension="raw",
                       random_state=0).fit(X, cache=cache)
    assert solver == "dense (values only)"
    assert s.shape == (d,)
    np.testing.assert_allclose(s, model.singular_values_, atol=1e-10)


def test_more_components_than_rows_pad_with_zeros(X):
    s, _ = spectrum_values("knn(k=5)", X[:12], 15)
    assert s.shape == (15,)
    assert np.all(s[11:] == 0.0)
    assert np.all(np.diff(s) <= 1e-12)
