"""Train a small neural encoder on a context and compare it with the exact contexture.

A ContextureEncoder with the VICReg objective (docs/theory.md §8) learns Ψ on the context values; the
representation of x is Φ = TΨ, and the extraction step (docs/theory.md §8) turns the learned span into
ordered estimates of μ_1..μ_d and of s_1²..s_d². The exact answer comes from Contexture (the
top-d singular functions of the same context). Alignment on held-out rows is the CCA R² (mean
squared canonical correlation, 1 = same span) between the two d-dimensional representations.

Data: 1000 rows of the bundled abalone (70% pretrain). One torch thread: on a busy 2-core machine
this was several times faster than two.
Run:  python examples/train_encoder.py
"""

import numpy as np

from contextures.datasets import prepare
from contextures.encoders import ContextureEncoder
from contextures.evaluation import cca_r2
from contextures.spectral import Contexture

D = 8
CONTEXT = "knn(k=30)"

data = prepare("abalone", split_seed=0, max_rows=1000)
exact = Contexture(CONTEXT, n_components=D, random_state=0).fit(data.X_pre)
encoder = ContextureEncoder(CONTEXT, objective="vicreg", n_components=D, hidden=128, depth=2,
                            epochs=100, random_state=0, n_threads=1).fit(data.X_pre)

print(f"trained vicreg on {CONTEXT}: {data.X_pre.shape[0]} rows, d = {D}, "
      f"network outputs d1 = {encoder.output_dim_}, {encoder.fit_time_:.1f} s")
print("exact s_i^2    :", np.round(exact.singular_values_**2, 4))
print("estimated s_i^2:", np.round(encoder.eigenvalues_, 4))
mae = np.abs(encoder.eigenvalues_ - exact.singular_values_**2).mean()
print(f"eigenvalue MAE = {mae:.4f}")
r2 = cca_r2(encoder.transform(data.X_test), exact.transform(data.X_test))
print(f"CCA R^2 on {data.X_test.shape[0]} test rows = {r2:.3f}")
