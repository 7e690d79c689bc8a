"""scikit-learn's own estimator checks on ``ContextureEncoder``, with no expected failures.

Two small, fast instances (a few epochs, a narrow network) cover both feature routes:

- ``knn(k=3)`` with ``kise``: Φ is a network of x (kernel-access extraction);
- ``noise(sigma=0.5)`` with ``vicreg``: Ψ encodes the noisy views of a sample-only context
  (view extraction), and x is represented by Ψ(x).

The checks fit on tiny data sets (a handful of rows, one feature, integer or float32 values...),
check the error messages for 1-D, empty, sparse, complex and wrong-width input, that ``transform``
is row-wise (subsets and row order do not change a row's output), pickling, pandas output and
idempotent fitting.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from contextures.encoders import ContextureEncoder

TINY = dict(n_components=2, output_dim=4, hidden=8, depth=1, epochs=3, random_state=0,
            n_threads=1)
INSTANCES = [
    ContextureEncoder("knn(k=3)", objective="kise", **TINY),
    ContextureEncoder("noise(sigma=0.5)", objective="vicreg", extraction_draws=1, **TINY),
]


@parametrize_with_checks(INSTANCES)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
