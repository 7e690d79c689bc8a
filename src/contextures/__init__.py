"""contextures: the contexture theory of representation learning, made usable.

A representation is learned from the association between an input X and a context A. The
optimal d-dimensional encoder spans the top-d singular functions of the context's expectation
operator T, and the singular values predict how useful a context is before any label is seen.
"""

from .exceptions import (
    ContexturesError,
    DataError,
    MemoryBudgetError,
    ModelFileError,
    ParameterError,
    SpecError,
)

__version__ = "0.1.0"

__all__ = [
    "ContexturesError",
    "DataError",
    "MemoryBudgetError",
    "ModelFileError",
    "ParameterError",
    "SpecError",
    "__version__",
]
