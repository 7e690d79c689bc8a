"""One call from a spec to model-ready arrays: :func:`prepare` → :class:`Prepared`.

``prepare(spec)`` loads the dataset, splits its rows into pretrain / downstream-train / test
(default 70/15/15, seeded, stratified for classification), fits the preprocessing pipeline on the
pretrain rows only and applies it to the other two parts, and encodes the target. Contexts see
``X_pre`` (and, for label contexts, ``y_pre``); downstream probes are fitted on the train part
and scored on the test part, whose labels never reach a context.

A Parquet table too large for memory (or any Parquet table, with ``stream=True``) is prepared
without being read whole when a fitting sample size ``n_fit`` is given: the split is the same,
the preprocessing is fitted on the fitting sample (``X_pre`` then holds those rows), and
``X_train`` and ``X_test`` are :class:`~contextures.datasets.streamed.StreamedPart` objects that
read, preprocess and hand out their rows a block at a time (:mod:`~contextures.datasets.streamed`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.pipeline import Pipeline

from ..exceptions import DataError
from .dataset import Dataset, load_dataset
from .preprocess import encode_target, feature_names, fit_preprocess
from .specs import DatasetSpec
from .splits import DEFAULT_FRACTIONS, fit_rows, split_indices, validate_fractions
from .streamed import StreamedPart, StreamedRows


@dataclass
class Prepared:
    """Split, preprocessed arrays of one dataset.

    ``X_*`` are float64 C-contiguous (n_part, n_features) arrays; ``y_*`` int64 class codes
    0..C−1 (classification), float64 (regression) or None (unlabelled); ``index_*`` the rows of
    the loaded dataset each part holds; ``preprocessor`` the pipeline fitted on the pretrain rows.
    A streamed table (module docstring) has the fitting sample as ``X_pre`` (``index_pre`` its
    rows), :class:`~contextures.datasets.streamed.StreamedPart` objects as ``X_train`` and
    ``X_test``, and ``metadata["streamed"]``; ``n_pretrain`` is the whole pretrain split's size.
    """

    X_pre: np.ndarray
    X_train: np.ndarray
    X_test: np.ndarray
    y_pre: np.ndarray | None
    y_train: np.ndarray | None
    y_test: np.ndarray | None
    task: str | None
    feature_names: list[str]
    class_names: list[str] | None
    metadata: dict
    index_pre: np.ndarray
    index_train: np.ndarray
    index_test: np.ndarray
    preprocessor: Pipeline | None = field(default=None, repr=False)
    dataset: Dataset | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", "dataset"))

    @property
    def n_features(self) -> int:
        return int(self.X_pre.shape[1])

    @property
    def n_pretrain(self) -> int:
        """Rows of the pretrain split (more than ``X_pre`` holds when the table is streamed)."""
        return int(self.metadata["split"]["sizes"][0])

    @property
    def streamed(self) -> bool:
        return "streamed" in self.metadata

    def stream_note(self) -> str:
        """What a streamed table's scores rest on, for the note a command prints."""
        n_down = self.X_train.shape[0] + self.X_test.shape[0]
        return (f"read by row groups, never whole: the preprocessing and the contexts are fitted "
                f"on a seeded subsample of {self.X_pre.shape[0]} of the {self.n_pretrain} "
                f"pretrain rows (fit seed {self.metadata['streamed']['fit_seed']}), and the "
                f"{n_down} downstream rows are streamed from the file, a block at a time")

    @property
    def n_classes(self) -> int | None:
        return None if self.class_names is None else len(self.class_names)


def prepare(spec: str | DatasetSpec | Dataset = "abalone", *, split_seed: int = 0,
            max_rows: int | None = None, fractions=DEFAULT_FRACTIONS, task: str | None = None,
            cap_seed: int = 0, min_frequency: float | int = 0.01,
            stream: bool | None = False, n_fit: int | None = None,
            fit_seed: int = 0) -> Prepared:
    """Load (unless given a :class:`Dataset`), split, preprocess and encode a dataset.

    ``split_seed`` seeds the split (same seed, same indices); ``max_rows`` caps the rows with the
    seed ``cap_seed`` (kept fixed so that several split seeds share one capped table);
    ``fractions`` are the (pretrain, train, test) fractions. ``stream`` (False: never; None: a
    Parquet file over the memory budget; True: any uncapped Parquet file) streams the downstream
    rows from the file (module docstring); it needs ``n_fit``, the size of the seeded fitting
    sample (``fit_seed``) the preprocessing and the contexts are fitted on.
    """
    fractions = validate_fractions(fractions)
    if isinstance(spec, Dataset):
        dataset = spec
    else:
        dataset = load_dataset(spec, task=task, max_rows=max_rows, random_state=cap_seed,
                               stream=False if n_fit is None and stream is None else stream)
    y_all, class_names = (None, None)
    if dataset.y_raw is not None:
        y_all, class_names = encode_target(dataset.y_raw, dataset.task)
    labels = y_all if dataset.task == "classification" else None
    idx_pre, idx_train, idx_test = split_indices(dataset.n_rows, labels=labels, seed=split_seed,
                                                 fractions=fractions)
    if dataset.streamed:
        if n_fit is None:
            raise DataError(f"dataset {dataset.spec!r} is streamed from its file: give the size "
                            "of the fitting sample (n_fit; --max-fit on the command line)")
        idx_pre = idx_pre[fit_rows(idx_pre.size, n_fit, fit_seed)]
        parts = (dataset.rows.rows(idx_pre)[dataset.feature_columns],)
    else:
        X = dataset.X_raw
        parts = (X.iloc[idx_pre], X.iloc[idx_train], X.iloc[idx_test])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pipeline, arrays = fit_preprocess(*parts, min_frequency=min_frequency)
    if dataset.streamed:
        source = StreamedRows(dataset.rows, dataset.feature_columns, pipeline,
                              {"train": idx_train, "test": idx_test}, arrays[0].shape[1])
        X_pre, X_train, X_test = arrays[0], StreamedPart(source, "train"), StreamedPart(
            source, "test")
    else:
        X_pre, X_train, X_test = arrays
    for w in caught:  # warn again (from this call site) so callers can filter or record them
        warnings.warn(w.message, w.category, stacklevel=2)

    def part(y, idx):
        return None if y is None else np.ascontiguousarray(y[idx])

    cleaner = pipeline.named_steps["clean"]
    names = feature_names(pipeline)
    metadata = dict(dataset.metadata)
    n_pre = dataset.n_rows - len(idx_train) - len(idx_test)
    metadata["split"] = {
        "seed": int(split_seed), "fractions": list(fractions),
        "sizes": [n_pre, len(idx_train), len(idx_test)],
        "stratified": labels is not None,
    }
    metadata["preprocessing"] = {
        "n_features_raw": dataset.n_features,
        "n_features_out": len(names),
        "numeric_columns": list(map(str, cleaner.numeric_columns_)),
        "categorical_columns": list(map(str, cleaner.categorical_columns_)),
        "dropped_identifier": list(map(str, cleaner.dropped_identifier_)),
        "dropped_constant": list(map(str, cleaner.dropped_constant_)),
        "fitted_on": "fitting sample" if dataset.streamed else "pretrain",
    }
    if dataset.streamed:
        metadata["streamed"] = {"n_fit": len(idx_pre), "fit_seed": int(fit_seed),
                                "n_pretrain": n_pre, "batch_rows": X_train.source.batch_rows}
    return Prepared(X_pre, X_train, X_test, part(y_all, idx_pre), part(y_all, idx_train),
                    part(y_all, idx_test), dataset.task, names, class_names, metadata,
                    idx_pre, idx_train, idx_test, pipeline, dataset)
