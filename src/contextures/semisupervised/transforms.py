"""Spectral transformations s(λ) of a context's kernel, written in the project's spec grammar.

The context's dual kernel k(x, x') = k_X⁺(x, x') has the eigen-expansion
k(x, x') = Σ_i λ_i μ_i(x) μ_i(x') with λ_i = s_i² ∈ [0, 1] (λ_0 = 1, μ_0 ≡ 1). A transformation
s maps it to the kernel

    k_s(x, x') = Σ_i s(λ_i) μ_i(x) μ_i(x').

Every transformation here is written s(λ) = λ · h(λ) with h bounded on [0, 1], which is what lets
the estimator evaluate k_s on new points through the context's own kernel (see
:mod:`contextures.semisupervised.stkr`):

=============================  ===============================  =================================
spec                           s(λ)                             h(λ) = s(λ) / λ
=============================  ===============================  =================================
``inverse_laplacian(eta=η)``   1 / (1/λ − η) = λ / (1 − ηλ)     1 / (1 − ηλ),  0 < η < 1
``poly(p=p)``                  λ^p                              λ^(p−1),  p = 1, 2, …
``topd(d=d)``                  λ on the top d components, 0     1 on the top d, 0 beyond
                               beyond (kernel PCA: the exact
                               contexture)
``identity``                   λ (plain kernel ridge)           1
=============================  ===============================  =================================

The inverse Laplacian is the label-propagation transform: s(λ) = Σ_{q≥1} η^{q−1} λ^q sums walks
of every length through the context, weighted by η per step, and η < 1 because λ_0 = 1.

A parameter left out (``inverse_laplacian``, ``poly``, ``topd``) is *free*: the estimator chooses
it by cross-validation on the labelled rows from :data:`GRIDS`.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..exceptions import ParameterError, SpecError
from ..spec import Call, format_spec, parse_spec

# name -> (parameter name or None, cross-validation grid of that parameter)
TRANSFORMS: dict[str, str | None] = {
    "inverse_laplacian": "eta",
    "poly": "p",
    "topd": "d",
    "identity": None,
}
GRIDS: dict[str, tuple] = {
    "inverse_laplacian": (0.9, 0.99, 0.999),
    "poly": (1, 2, 4, 8),
    "topd": (4, 8, 16, 32, 64),
}
ALIASES = {"inverse_laplacian": ("inv_lap", "laplacian"), "poly": ("polynomial",),
           "topd": ("kernel_pca",), "identity": ("krr",)}


@dataclass(frozen=True)
class SpectralTransform:
    """One transformation s(λ): its ``name`` and parameter ``value`` (None when free)."""

    name: str
    value: float | int | None = None

    @property
    def parameter(self) -> str | None:
        """The name of the transformation's parameter (``eta``, ``p``, ``d``) or None."""
        return TRANSFORMS[self.name]

    @property
    def free(self) -> bool:
        """Whether the parameter is left to cross-validation."""
        return self.parameter is not None and self.value is None

    def grid(self) -> list[SpectralTransform]:
        """This transformation with every value of its grid, or itself when fixed."""
        if not self.free:
            return [self]
        return [SpectralTransform(self.name, v) for v in GRIDS[self.name]]

    def spec(self) -> str:
        """Canonical spec string, e.g. ``inverse_laplacian(eta=0.99)``."""
        if self.parameter is None or self.value is None:
            return self.name
        return format_spec(Call(self.name, (), ((self.parameter, self.value),)))

    def __str__(self) -> str:
        return self.spec()

    def s(self, lam: np.ndarray) -> np.ndarray:
        """s(λ) elementwise (for ``topd`` the caller keeps only the top d components)."""
        lam = np.asarray(lam, dtype=float)
        return lam * self.h(lam)

    def h(self, lam: np.ndarray) -> np.ndarray:
        """h(λ) = s(λ) / λ elementwise (bounded on [0, 1])."""
        lam = np.asarray(lam, dtype=float)
        if self.free:
            raise ParameterError(f"{self.name}: its parameter {self.parameter} is not set")
        if self.name == "inverse_laplacian":
            return 1.0 / (1.0 - float(self.value) * lam)
        if self.name == "poly":
            return lam ** (int(self.value) - 1)
        return np.ones_like(lam)


def _check_value(name: str, key: str, value: Any) -> float | int:
    if name == "inverse_laplacian":
        if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                or not math.isfinite(float(value)) or not 0.0 < float(value) < 1.0):
            raise ParameterError(f"inverse_laplacian: eta must be a number in (0, 1) (the "
                                 f"context's top eigenvalue is 1, so s(λ) = λ/(1 − ηλ) needs "
                                 f"η < 1), got {value!r}")
        return float(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ParameterError(f"{name}: {key} must be an integer ≥ 1, got {value!r}")
    return int(value)


def parse_transform(spec: str | Call | SpectralTransform) -> SpectralTransform:
    """A :class:`SpectralTransform` from a spec string (parsed by :func:`~contextures.spec.parse_spec`).

    Unknown names, positional or unknown parameters are a :class:`SpecError`; a parameter outside
    its domain (η ∉ (0, 1), p or d not a positive integer) is a :class:`ParameterError`.
    """
    if isinstance(spec, SpectralTransform):
        return spec
    call = parse_spec(spec) if isinstance(spec, str) else spec
    if not isinstance(call, Call):
        raise SpecError(f"a transform spec must be a string, got {type(spec).__name__}")
    name = call.name
    for canonical, aliases in ALIASES.items():
        if name in aliases:
            name = canonical
    if name not in TRANSFORMS:
        raise SpecError(f"unknown spectral transform {call.name!r}; known transforms: "
                        + ", ".join(f"{n}({p}=…)" if p else n for n, p in TRANSFORMS.items()))
    if call.weight is not None:
        raise SpecError(f"{name}: a transform takes no weight ({call.weight}*)")
    key = TRANSFORMS[name]
    if call.args:
        raise SpecError(f"{name}: takes keyword parameters only"
                        + (f" ({key}=…)" if key else " (none)"))
    params = call.params
    unknown = sorted(set(params) - ({key} if key else set()))
    if unknown:
        raise SpecError(f"{name}: unknown parameter(s) {', '.join(unknown)}; it takes "
                        + (key if key else "no parameters"))
    if key is None or params.get(key) is None:
        return SpectralTransform(name, None)
    return SpectralTransform(name, _check_value(name, key, params[key]))
