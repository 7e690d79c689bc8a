"""The ridge probe of features that arrive a block at a time: :func:`ridge_probe_curve_streamed`.

When the downstream rows are streamed from a file (:mod:`~contextures.datasets.streamed`), their
features F = μ(x) exist one block at a time and all of them together may not fit in memory. The
probe of :func:`~contextures.evaluation.probes.ridge_probe_curve` with a K-fold cross-validation
needs the rows in K + 1 groups (the folds of the downstream-train rows, and the test rows), each
read several times: once for the shift, once for the moments, once for its error curves. So the
blocks are written, as they arrive, to one file per group in a temporary directory (``directory``,
default the system's, ``$TMPDIR``), and the groups are then read back a block at a time.

The folds are those of the in-memory probe (the same seeded, stratified K-fold split of the
downstream-train labels, which are in memory), and each fold's rows are written in the order
they arrive, which is the order of their row numbers in the part: so every group holds the rows,
and every read block the values, that the in-memory probe reads from the whole feature matrix,
and the result is the same curve bit for bit (tested). The memory held is the targets, the O(n)
fold numbers and one block; the disk holds n × D float64 features (checked against the free
space before the first is written).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .._memory import format_bytes
from ..exceptions import DataError, ParameterError
from ..validation import check_int
from .probes import (
    DEFAULT_ALPHAS,
    ProbeCurve,
    _check_alphas,
    _check_task,
    _cv_folds,
    _Design,
    _Encoding,
    _probe_errors,
    _Rows,
    _selected_curve,
    _target,
)


class _SpilledRows(_Rows):
    """Rows of one group written to a file (float64, row-major, D columns), read back in blocks
    from the start; their targets are in memory."""

    def __init__(self, path: Path, n: int, D: int, y: np.ndarray, enc: _Encoding):
        self.path, self.n, self.D, self.y, self.enc = path, int(n), int(D), y, enc
        self.index = None

    def blocks(self, rows: int):
        with open(self.path, "rb") as fh:
            for b0 in range(0, self.n, rows):
                b1 = min(self.n, b0 + rows)
                F = np.fromfile(fh, dtype=np.float64, count=(b1 - b0) * self.D)
                y = self.y[b0:b1]
                yield F.reshape(b1 - b0, self.D), self.enc.matrix(y), self.enc.labels(y)


class _Spill:
    """One append-only file per group, in a temporary directory."""

    def __init__(self, root: Path, names: list[str]):
        self.paths = {name: root / f"{name}.f64" for name in names}
        self.files = {name: open(path, "wb") for name, path in self.paths.items()}
        self.rows = dict.fromkeys(names, 0)

    def write(self, name: str, F: np.ndarray) -> None:
        if F.shape[0]:
            np.ascontiguousarray(F, dtype=np.float64).tofile(self.files[name])
            self.rows[name] += F.shape[0]

    def close(self) -> None:
        for fh in self.files.values():
            fh.close()


def _check_block(part: str, F, D: int | None) -> np.ndarray:
    F = np.asarray(F, dtype=np.float64)
    if F.ndim != 2:
        raise ParameterError(f"a block of {part} features must be two-dimensional, got shape "
                             f"{F.shape}")
    if D is not None and F.shape[1] != D:
        raise ParameterError(f"a block of {part} features has {F.shape[1]} columns, the first "
                             f"had {D}")
    if not np.isfinite(F).all():
        raise ParameterError(f"the {part} features contain NaN or infinite values")
    return F


def _check_space(root: Path, nbytes: float) -> None:
    free = shutil.disk_usage(root).free
    if nbytes > free:
        raise DataError(f"the probe of streamed rows writes their features to {root}: "
                        f"{format_bytes(nbytes)} needed, {format_bytes(free)} free there (set "
                        "TMPDIR to a larger disk)")


def ridge_probe_curve_streamed(blocks: Iterable[tuple[str, np.ndarray]], y_train, y_test, *,
                               task: str = "regression", alphas=DEFAULT_ALPHAS,
                               random_state=0, cv_folds: int = 5,
                               directory: str | Path | None = None) -> ProbeCurve:
    """The K-fold probe curve of :func:`~contextures.evaluation.probes.ridge_probe_curve` (α and
    d chosen by ``cv_folds``-fold cross-validation of the train rows, refit on all of them, error
    on the test rows), from features given a block at a time (module docstring).

    ``blocks`` yields ``(part, F)`` with part ``"train"`` or ``"test"`` and F the features of the
    part's next rows (n_b × D, in the order of ``y_train`` and ``y_test``); the two parts may
    interleave. The result equals ``ridge_probe_curve(F_train, y_train, None, None, F_test,
    y_test, task=task, alphas=alphas, random_state=random_state, cv_folds=cv_folds)``.
    """
    task = _check_task(task)
    alphas = _check_alphas(alphas)
    y_train = _target(y_train, "y_train", len(y_train), task)
    y_test = _target(y_test, "y_test", len(y_test), task)
    n_train, n_test = y_train.shape[0], y_test.shape[0]
    if n_train < 2:
        raise ParameterError(f"the probe needs at least 2 train rows, got {n_train}")
    if task == "regression" and y_test.shape[1] != y_train.shape[1]:
        raise ParameterError(f"y_test has {y_test.shape[1]} outputs, y_train has "
                             f"{y_train.shape[1]}")
    k = check_int(cv_folds, "cv_folds", low=2, high=max(2, n_train))
    enc = _Encoding(task, y_train)
    folds = _cv_folds(y_train, task, k, random_state)
    fold_of = np.empty(n_train, dtype=np.int64)
    for f, rows in enumerate(folds):
        fold_of[rows] = f
    names = [f"fold{f}" for f in range(k)] + ["test"]
    with tempfile.TemporaryDirectory(prefix="contextures-probe-", dir=directory) as tmp:
        spill = _Spill(Path(tmp), names)
        D = None
        try:
            for part, F in blocks:
                F = _check_block(part, F, D)
                if D is None:
                    D = F.shape[1]
                    _check_space(Path(tmp), 8.0 * D * (n_train + n_test))
                if part == "test":
                    spill.write("test", F)
                    continue
                if part != "train":
                    raise ParameterError(f"a block's part must be 'train' or 'test', got {part!r}")
                done = sum(spill.rows[f"fold{f}"] for f in range(k))
                if done + F.shape[0] > n_train:
                    raise ParameterError(f"more train feature rows than the {n_train} targets")
                where = fold_of[done:done + F.shape[0]]
                for f in range(k):
                    spill.write(f"fold{f}", F[where == f])
        finally:
            spill.close()
        got = (sum(spill.rows[f"fold{f}"] for f in range(k)), spill.rows["test"])
        if got != (n_train, n_test):
            raise ParameterError(f"the blocks held {got[0]} train and {got[1]} test rows, the "
                                 f"targets {n_train} and {n_test}")
        groups = [_SpilledRows(spill.paths[f"fold{f}"], folds[f].size, D, y_train[folds[f]], enc)
                  for f in range(k)]
        test = _SpilledRows(spill.paths["test"], n_test, D, y_test, enc)
        t = y_train.shape[1] if task == "regression" else enc.classes.size
        val_err, test_err, test_acc = _probe_errors(_Design(groups, D, t), test, None, alphas,
                                                    cv=True)
    return _selected_curve(task, alphas, val_err, test_err, test_acc)
