"""Mixing two contexts (docs/theory.md §7): convolution, convex combination and concatenation on abalone.

A = knn(k=30) (strong association: s_i close to 1) and B = rbf(gamma=median) (weaker). For each
of A, B, conv(A,B), mix(0.5*A,0.5*B) and concat(A,B) the script fits the exact top-d contexture
on the pretrain rows and reports s_1..s_3 and the ridge-probe error err_d* on the test rows.
It also checks two facts of the theory on the computed spectra:

- convolution weakens association: s_i(conv(A,B)) ≤ min(s_i(A), s_i(B)) for every i;
- the mixture's M is w_A M_A + w_B M_B, so by Ky Fan's inequality the top-d sums of eigenvalues
  satisfy Σ_{i≤d} s_i²(mix) ≤ w_A Σ_{i≤d} s_i²(A) + w_B Σ_{i≤d} s_i²(B) for every d.

Run:  python examples/mixtures.py
"""

import numpy as np

from contextures.datasets import prepare
from contextures.evaluation import ridge_probe_curve
from contextures.spectral import Contexture

D = 32
A, B = "knn(k=30)", "rbf(gamma=median)"
SPECS = [A, B, f"conv({A},{B})", f"mix(0.5*{A},0.5*{B})", f"concat({A},{B})"]

data = prepare("abalone", split_seed=0)
spectra = {}
for spec in SPECS:
    model = Contexture(spec, n_components=D, random_state=0).fit(data.X_pre)
    spectra[spec] = model.singular_values_
    curve = ridge_probe_curve(model.transform(data.X_train), data.y_train,
                              F_test=model.transform(data.X_test), y_test=data.y_test,
                              task=data.task)
    print(f"{spec:45s} s_1..s_3 = {np.round(model.singular_values_[:3], 4)}  "
          f"err_d* = {curve.error:.3f} (d* = {curve.d_star}, of {curve.dims[-1]} features)")

s_a, s_b = spectra[A], spectra[B]
s_conv, s_mix = spectra[SPECS[2]], spectra[SPECS[3]]
conv_ok = bool(np.all(s_conv <= np.minimum(s_a, s_b) + 1e-8))
print(f"conv: s_i(conv) <= min(s_i(A), s_i(B)) for all i <= {D}: {conv_ok}")
bound = 0.5 * np.cumsum(s_a**2) + 0.5 * np.cumsum(s_b**2)
mix_ok = bool(np.all(np.cumsum(s_mix**2) <= bound + 1e-8))
print(f"mix: Ky Fan bound on the top-d eigenvalue sums holds for all d <= {D}: {mix_ok}")
if not (conv_ok and mix_ok):
    raise SystemExit("a mixing inequality failed")
