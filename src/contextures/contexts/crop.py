"""Random-crop context for square images stored as flattened rows (e.g. 8×8 ``sklearn:digits``).

The image side s is inferred from the number of features (F = s², else ParameterError). A draw
takes a square crop of relative area α, side c = round(s·√α) clipped to [1, s] (so the realised
area is c²/s²; for 8×8 images and α = 0.2, c = 4), at a uniformly random position, and resizes
it back to s × s by bilinear interpolation with aligned corners (output pixel u samples the crop
at u·(c − 1)/(s − 1)).

The density of a crop is not computable, so the context is sample-only: ``operator()`` raises
ParameterError (learn the contexture with an encoder, docs/theory.md §8), and there is no transition.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..exceptions import ParameterError
from ..validation import check_array, check_fraction
from ._validation import check_fitted, check_indices, make_rng
from .base import Context, register_context


def bilinear_matrix(out_size: int, in_size: int) -> np.ndarray:
    """R (out × in) with R @ v the aligned-corner linear interpolation of v to ``out_size`` points."""
    R = np.zeros((out_size, in_size))
    if in_size == 1 or out_size == 1:
        R[:, 0] = 1.0
        return R
    pos = np.arange(out_size) * (in_size - 1) / (out_size - 1)
    lo = np.minimum(np.floor(pos).astype(int), in_size - 2)
    frac = pos - lo
    R[np.arange(out_size), lo] = 1.0 - frac
    R[np.arange(out_size), lo + 1] += frac
    return R


@register_context
class CropContext(Context):
    """A random crop of relative area α, resized back (see the module docstring).

    Parameters
    ----------
    alpha : float in (0, 1]
    """

    spec_name = "crop"
    strength_param = "alpha"
    access = "sample"
    value_space = "input"

    def __init__(self, alpha: float = 0.2):
        self.alpha = alpha

    def fit(self, X: np.ndarray, y: Any = None, *, cache: Any = None) -> CropContext:
        who = self.spec()
        alpha = check_fraction(self.alpha, "alpha", who=who)
        if alpha <= 0:
            raise ParameterError(f"{who}: alpha must be > 0 (a crop of relative area alpha)")
        X = check_array(X, what=who, min_samples=1, representable=True)
        F = X.shape[1]
        side = math.isqrt(F)
        if side * side != F:
            raise ParameterError(f"{who}: crops need square images stored as rows of s² pixels; "
                                 f"{F} features is not a square")
        self.X_ = X
        self.n_samples_ = X.shape[0]
        self.n_features_in_ = F
        self.side_ = side
        self.crop_side_ = int(min(side, max(1, round(side * math.sqrt(alpha)))))
        self._resize = bilinear_matrix(side, self.crop_side_)
        return self

    def operator(self, memory_budget: int | None = None):
        raise ParameterError(f"{self.spec()}: crops are sample-only (their density is not "
                             "computable), so there is no finite-sample operator; learn this "
                             "context with an encoder")

    def sample(self, indices: np.ndarray, random_state: Any = None) -> np.ndarray:
        """One random crop, resized back to s × s and flattened, per index."""
        check_fitted(self)
        idx = check_indices(indices, self.n_samples_, f"{self.spec()}.sample")
        rng = make_rng(random_state)
        s, c = self.side_, self.crop_side_
        images = self.X_[idx].reshape(-1, s, s)
        top = rng.integers(s - c + 1, size=idx.size)
        left = rng.integers(s - c + 1, size=idx.size)
        rows = top[:, None] + np.arange(c)[None, :]
        cols = left[:, None] + np.arange(c)[None, :]
        crops = images[np.arange(idx.size)[:, None, None], rows[:, :, None], cols[:, None, :]]
        R = self._resize
        out = np.einsum("ij,bjk,lk->bil", R, crops, R)
        return out.reshape(idx.size, s * s)
