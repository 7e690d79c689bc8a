"""Input arrays of the project's estimators, validated by scikit-learn's own ``validate_data``.

One entry, :func:`validated_array`, so that every estimator (``Contexture``, ``STKR``…) refuses
bad input with scikit-learn's messages, raised as the project's typed errors: a TypeError from
scikit-learn (sparse input, objects that are not numbers) becomes :class:`InputTypeError`, a
ValueError (1-D, empty, wrong width, NaN or infinity, complex) becomes :class:`ParameterError`;
both are still a TypeError or ValueError, as scikit-learn's conventions expect.
"""

from __future__ import annotations

import re

import numpy as np
from sklearn.utils.validation import validate_data

from .exceptions import InputTypeError, ParameterError


def validated_array(estimator, X, *, reset: bool, what: str, min_samples: int = 1) -> np.ndarray:
    """X as a finite float64 C-ordered 2-D array (``reset`` records n_features_in_ and the
    feature names, as in ``fit``; otherwise they are checked, as in ``transform``)."""
    try:
        return validate_data(estimator, X, reset=reset, dtype=np.float64, order="C",
                             accept_sparse=False, ensure_all_finite=True,
                             ensure_min_samples=min_samples)
    except TypeError as exc:
        raise InputTypeError(f"{what}: {exc}") from exc
    except ValueError as exc:
        if isinstance(exc, ParameterError):
            raise
        # scikit-learn's message, without the array it may print
        message = re.sub(r"\s*array=\[.*?\]\.?\s*", " ", str(exc), flags=re.S).strip()
        raise ParameterError(f"{what}: {message}") from exc
