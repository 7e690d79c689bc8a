"""The project's typed errors.

Every error the library raises on purpose derives from :class:`ContexturesError`, so callers can
catch one type, and the command line turns each into one line on stderr and a non-zero exit code
(see ``contextures.cli.app``). Each subclass also derives from the closest built-in type, so code
written against scikit-learn conventions (``except ValueError``) keeps working.
"""

from __future__ import annotations


class ContexturesError(Exception):
    """Base class of every error raised on purpose by ``contextures``."""

    exit_code = 1


class DataError(ContexturesError, ValueError):
    """A dataset cannot be loaded or is unusable (missing file, unknown item, bad target...)."""

    exit_code = 3


class OfflineError(DataError):
    """A loader needs the network and the network is not reachable."""

    exit_code = 4


class SpecError(ContexturesError, ValueError):
    """A spec string (context, dataset, objective) does not parse or names nothing known."""

    exit_code = 2


class ParameterError(ContexturesError, ValueError):
    """A parameter value is outside its domain (k >= n, gamma <= 0, p outside [0, 1]...)."""

    exit_code = 2


class InputTypeError(ParameterError, TypeError):
    """Input of a type an estimator does not take (sparse, or objects that are not numbers)."""


class MemoryBudgetError(ContexturesError, MemoryError):
    """A computation would need more memory than the budget allows, and no fallback exists."""

    exit_code = 5


class ConvergenceWarning(UserWarning):
    """An iterative solver stopped before reaching its tolerance; residuals are reported."""


class ModelFileError(ContexturesError, ValueError):
    """A model or result file is missing, truncated, hostile or from an incompatible version."""

    exit_code = 6


class TrainingError(ContexturesError, RuntimeError):
    """Neural training failed (diverging loss, NaN outputs...)."""

    exit_code = 7


class ResultsConflictError(ContexturesError, ValueError):
    """An output directory holds results of a different configuration."""

    exit_code = 8


class GridBackendError(ContexturesError, RuntimeError):
    """A grid's parallel backend failed: unreachable dask scheduler, a worker process died."""

    exit_code = 9


class SolverError(ContexturesError, RuntimeError):
    """A solver returned something other than d finite pairs in [0, 1], and no fallback could."""

    exit_code = 10


class TimeBudgetError(ContexturesError, RuntimeError):
    """A solve estimated to take longer than the time limit (``--max-time``) was refused."""

    exit_code = 11


class OutputError(ContexturesError, OSError):
    """A result file or directory cannot be written: read-only or full file system, a missing or
    unwritable target, or a path that is a directory where a file is expected (or the reverse)."""

    exit_code = 12
