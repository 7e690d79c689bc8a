"""Neural encoders on abalone, as slow benchmark tests.

abalone pretrain split (70 %), context knn(k=30), MLP Tanh + skip, width 512, depth 3, output
d₁ = 512, full-batch AdamW, 200 epochs, extraction to d = 128; the exact contexture is the spectral
engine on the same pretrain rows; alignment is measured on the held-out test rows. Each test also
fits the same encoder untrained (one epoch at lr = 1e-12) and asserts that it fails the thresholds
the trained encoder passes. The thresholds differ by objective because the untrained controls do:
VICReg represents x by Φ = TΨ, and T alone smooths 512 random functions into a span that already
has CCA R² ≈ 0.89 with the top 32 (eigenvalue MAE ≈ 0.04 over the top 64); KISE's Φ is the raw
network (≈ 0.71 and ≈ 0.10).
Run with ``pytest -m slow tests/test_encoders_abalone.py``.
"""

import pytest

from _encoders_testlib import untrained
from contextures.cli.train import compare_encoder
from contextures.encoders import ContextureEncoder

pytestmark = pytest.mark.slow

# objective: (CCA R² of the top 32 at least, eigenvalue MAE of the top 64 at most)
THRESHOLDS = {"vicreg": (0.95, 0.02), "kise": (0.85, 0.05)}


@pytest.mark.parametrize("objective", ["vicreg", "kise"])
def test_alignment_and_eigenvalues_on_abalone(abalone, objective):
    enc = ContextureEncoder("knn(k=30)", objective=objective, n_components=128, output_dim=512,
                            hidden=512, depth=3, epochs=200, random_state=0)
    cca_min, mae_max = THRESHOLDS[objective]
    for model, trained in ((enc.fit(abalone.X_pre), True), (untrained(enc).fit(abalone.X_pre), False)):
        top32 = compare_encoder(model, abalone, "knn(k=30)", 32)
        top64 = compare_encoder(model, abalone, "knn(k=30)", 64)
        passes = top32["cca_r2"] >= cca_min and top64["eigenvalue_mae"] <= mae_max
        assert passes == trained, (objective, trained, top32, top64)
