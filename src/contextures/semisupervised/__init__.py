"""Learning from few labels with a context: spectrally transformed kernel regression (STKR).

- :class:`STKR` — the scikit-learn estimator (classes or values; −1 / NaN mark unlabelled rows),
  with the transformation and the ridge chosen by cross-validation on the labelled rows;
- :func:`parse_transform`, :class:`SpectralTransform` — the transformations s(λ) of the
  context's kernel in the spec grammar: ``inverse_laplacian(eta=…)``, ``poly(p=…)``,
  ``topd(d=…)``, ``identity``.
"""

from .stkr import STKR, read_target
from .transforms import GRIDS, TRANSFORMS, SpectralTransform, parse_transform

__all__ = ["GRIDS", "STKR", "TRANSFORMS", "SpectralTransform", "parse_transform", "read_target"]
