"""The exact contexture of a context on abalone: singular values, τ and the probe curve.

Fits ``Contexture("rbf(gamma=median)")`` on the pretrain rows of the bundled abalone data (docs/theory.md §4),
prints the top singular values s_1..s_5, scores the context with τ (docs/theory.md §3, β = 1) and checks
what the top-d eigenfunctions are worth downstream with a ridge probe on d = 1..d₀ (docs/theory.md §9).

Run:  python examples/exact_contexture.py
"""

import numpy as np

from contextures.datasets import prepare
from contextures.evaluation import ridge_probe_curve, tau
from contextures.spectral import Contexture

D0 = 64  # components fitted: τ's cut-off d₀ and the largest probe dimension

data = prepare("abalone", split_seed=0)  # 70/15/15 pretrain / downstream-train / test
print(f"abalone: {data.X_pre.shape[0]} pretrain rows, {data.X_pre.shape[1]} features")

model = Contexture("rbf(gamma=median)", n_components=D0, random_state=0).fit(data.X_pre)
s = model.singular_values_
print(f"solver {model.solver_}, converged {model.converged_}, max residual {model.residuals_.max():.1e}")
print("s_1..s_5 =", np.round(s[:5], 4))

score = tau(s, beta=1.0, d0=D0)
print(f"tau = {score.tau:.4f} at d_hat = {score.d}, abstain = {score.abstain}")

# μ_1..μ_d0 at the downstream rows (out-of-sample extension), then a ridge probe per prefix d
F_train, F_test = model.transform(data.X_train), model.transform(data.X_test)
curve = ridge_probe_curve(F_train, data.y_train, F_test=F_test, y_test=data.y_test,
                          task=data.task)
print(f"probe: err_1 = {curve.errors[0]:.3f}, err_{D0} = {curve.errors[-1]:.3f}, "
      f"best err_d* = {curve.error:.3f} at d* = {curve.d_star}")
