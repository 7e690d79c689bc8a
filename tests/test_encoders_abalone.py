"""The done-means of issue 5 on abalone (spec §7B setup), as slow benchmark tests.

abalone pretrain split (70 %), context knn(k=30), MLP Tanh + skip, width 512, depth 3, output
d₁ = 512, full-batch AdamW, 200 epochs, extraction to d = 128; the exact contexture is the spectral
engine on the same pretrain rows; alignment is measured on the held-out test rows.
Run with ``pytest -m slow tests/test_encoders_abalone.py``.
"""

import pytest

from contextures.cli.train import compare_encoder
from contextures.datasets import prepare
from contextures.encoders import ContextureEncoder

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data():
    return prepare("abalone", split_seed=0)


@pytest.mark.parametrize("objective", ["vicreg", "kise"])
def test_alignment_and_eigenvalues_on_abalone(data, objective):
    enc = ContextureEncoder("knn(k=30)", objective=objective, n_components=128, output_dim=512,
                            hidden=512, depth=3, epochs=200, random_state=0).fit(data.X_pre)
    top32 = compare_encoder(enc, data, "knn(k=30)", 32)
    top64 = compare_encoder(enc, data, "knn(k=30)", 64)
    assert top32["cca_r2"] >= 0.85
    assert top64["eigenvalue_mae"] <= 0.1
