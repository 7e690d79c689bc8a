"""Choose a context without labels: score candidates by τ, then check the ranking with a probe.

τ (docs/theory.md §3) needs only the singular values of each context on the unlabelled pretrain rows:

    τ_d = 1/(1 − s²_{d+1}) + β Σ_{i≤d} s_i² / Σ_{i≤d₀} s_i²,   τ = min_d τ_d   (β = 1).

Lower τ predicts a lower downstream error; τ ≥ 1.9 (close to β + 1) signals extreme association
and the metric abstains. The labels are used only afterwards, to check the ranking: a ridge probe
on the exact top-d₀ eigenfunctions gives err_d* = min_d err_d for each candidate.

Data: scikit-learn's bundled diabetes regression set (442 rows, no network).
Run:  python examples/choose_a_context.py
"""

import numpy as np
from scipy.stats import pearsonr, spearmanr

from contextures.datasets import prepare
from contextures.evaluation import ridge_probe_curve, tau
from contextures.spectral import Contexture

D0 = 64
CANDIDATES = ["knn(k=10)", "knn(k=30)", "knn(k=100)", "rbf(gamma=0.02)", "rbf(gamma=median)",
              "rbf(gamma=0.2)", "rbf(gamma=0.5)", "rbf_mask(gamma=median,p=0.2,masks=20)"]

data = prepare("sklearn:diabetes", split_seed=0)
mean, std = data.y_train.mean(), data.y_train.std()
y_train, y_test = (data.y_train - mean) / std, (data.y_test - mean) / std  # error in units of Var

rows = []
for spec in CANDIDATES:
    model = Contexture(spec, n_components=D0, random_state=0).fit(data.X_pre)  # no labels
    score = tau(model.singular_values_, beta=1.0, d0=D0)
    curve = ridge_probe_curve(model.transform(data.X_train), y_train,
                              F_test=model.transform(data.X_test), y_test=y_test)
    rows.append((spec, score.tau, score.d, score.abstain, curve.error, curve.d_star))

rows.sort(key=lambda r: (r[3], r[1]))  # ranked by τ, abstentions last
print(f"{'context':40s} {'tau':>6s} {'d_hat':>5s} {'err_d*':>7s} {'d*':>3s}")
for spec, t, d_hat, abstain, err, d_star in rows:
    print(f"{spec:40s} {t:6.3f} {d_hat:5d} {err:7.3f} {d_star:3d}{'  abstain' if abstain else ''}")

ranked = [r for r in rows if not r[3]]
taus, errors = np.array([r[1] for r in ranked]), np.array([r[4] for r in ranked])
print(f"pick by tau: {ranked[0][0]}; lowest probe error: {min(rows, key=lambda r: r[4])[0]}")
print(f"over {len(ranked)} ranked candidates: Pearson(tau, err) = {pearsonr(taus, errors)[0]:.3f}, "
      f"Spearman = {spearmanr(taus, errors)[0]:.3f}")
