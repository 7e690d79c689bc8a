"""One call from a spec to model-ready arrays: :func:`prepare` → :class:`Prepared`.

``prepare(spec)`` loads the dataset, splits its rows into pretrain / downstream-train / test
(default 70/15/15, seeded, stratified for classification), fits the preprocessing pipeline on the
pretrain rows only and applies it to the other two parts, and encodes the target. Contexts see
``X_pre`` (and, for label contexts, ``y_pre``); downstream probes are fitted on the train part
and scored on the test part, whose labels never reach a context.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.pipeline import Pipeline

from .dataset import Dataset, load_dataset
from .preprocess import encode_target, feature_names, fit_preprocess
from .specs import DatasetSpec
from .splits import DEFAULT_FRACTIONS, split_indices, validate_fractions


@dataclass
class Prepared:
    """Split, preprocessed arrays of one dataset.

    ``X_*`` are float64 C-contiguous (n_part, n_features) arrays; ``y_*`` int64 class codes
    0..C−1 (classification), float64 (regression) or None (unlabelled); ``index_*`` the rows of
    the loaded dataset each part holds; ``preprocessor`` the pipeline fitted on the pretrain rows.
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
    def n_classes(self) -> int | None:
        return None if self.class_names is None else len(self.class_names)


def prepare(spec: str | DatasetSpec | Dataset = "abalone", *, split_seed: int = 0,
            max_rows: int | None = None, fractions=DEFAULT_FRACTIONS, task: str | None = None,
            cap_seed: int = 0, min_frequency: float | int = 0.01) -> Prepared:
    """Load (unless given a :class:`Dataset`), split, preprocess and encode a dataset.

    ``split_seed`` seeds the split (same seed, same indices); ``max_rows`` caps the rows with the
    seed ``cap_seed`` (kept fixed so that several split seeds share one capped table);
    ``fractions`` are the (pretrain, train, test) fractions.
    """
    fractions = validate_fractions(fractions)
    if isinstance(spec, Dataset):
        dataset = spec
    else:
        dataset = load_dataset(spec, task=task, max_rows=max_rows, random_state=cap_seed)
    y_all, class_names = (None, None)
    if dataset.y_raw is not None:
        y_all, class_names = encode_target(dataset.y_raw, dataset.task)
    labels = y_all if dataset.task == "classification" else None
    idx_pre, idx_train, idx_test = split_indices(dataset.n_rows, labels=labels, seed=split_seed,
                                                 fractions=fractions)
    X = dataset.X_raw
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pipeline, (X_pre, X_train, X_test) = fit_preprocess(
            X.iloc[idx_pre], X.iloc[idx_train], X.iloc[idx_test], min_frequency=min_frequency)
    for w in caught:  # warn again (from this call site) so callers can filter or record them
        warnings.warn(w.message, w.category, stacklevel=2)

    def part(y, idx):
        return None if y is None else np.ascontiguousarray(y[idx])

    cleaner = pipeline.named_steps["clean"]
    names = feature_names(pipeline)
    metadata = dict(dataset.metadata)
    metadata["split"] = {
        "seed": int(split_seed), "fractions": list(fractions),
        "sizes": [len(idx_pre), len(idx_train), len(idx_test)],
        "stratified": labels is not None,
    }
    metadata["preprocessing"] = {
        "n_features_raw": dataset.n_features,
        "n_features_out": len(names),
        "numeric_columns": list(map(str, cleaner.numeric_columns_)),
        "categorical_columns": list(map(str, cleaner.categorical_columns_)),
        "dropped_identifier": list(map(str, cleaner.dropped_identifier_)),
        "dropped_constant": list(map(str, cleaner.dropped_constant_)),
        "fitted_on": "pretrain",
    }
    return Prepared(X_pre, X_train, X_test, part(y_all, idx_pre), part(y_all, idx_train),
                    part(y_all, idx_test), dataset.task, names, class_names, metadata,
                    idx_pre, idx_train, idx_test, pipeline, dataset)
