"""The data layer: dataset specs, loading, preprocessing, splits and suites.

Every command reads data through this package::

    from contextures.datasets import prepare
    data = prepare("abalone", split_seed=0)        # X_pre, X_train, X_test, y_*, ...

- :func:`load_dataset` (spec → :class:`Dataset`: raw features, target, task, metadata);
- :func:`prepare` (spec → :class:`Prepared`: split, preprocessed float64 arrays);
- :func:`parse_dataset_spec` / :func:`format_dataset_spec` (the spec grammar, see
  :mod:`contextures.datasets.specs`);
- :func:`make_preprocessor`, :func:`fit_preprocess`, :func:`encode_target` (preprocessing);
- :func:`split_indices`, :func:`subsample_indices` (seeded, stratified row selection);
- :func:`suite` and :data:`SUITES` (``offline``, ``paper28``).
"""

from ._paths import cache_dir, data_dir, default_data_dir
from .dataset import MAX_INFERRED_CLASSES, Dataset, infer_task, load_dataset, target_summary
from .prepare import Prepared, prepare
from .preprocess import ColumnCleaner, encode_target, fit_preprocess, make_preprocessor
from .specs import DatasetSpec, format_dataset_spec, parse_dataset_spec
from .splits import DEFAULT_FRACTIONS, split_indices, subsample_indices
from .suites import SUITES, SuiteMember, suite

DEFAULT_DATASET = "abalone"

__all__ = [
    "DEFAULT_DATASET",
    "DEFAULT_FRACTIONS",
    "MAX_INFERRED_CLASSES",
    "SUITES",
    "ColumnCleaner",
    "Dataset",
    "DatasetSpec",
    "Prepared",
    "SuiteMember",
    "cache_dir",
    "data_dir",
    "default_data_dir",
    "encode_target",
    "fit_preprocess",
    "format_dataset_spec",
    "infer_task",
    "load_dataset",
    "make_preprocessor",
    "parse_dataset_spec",
    "prepare",
    "split_indices",
    "subsample_indices",
    "suite",
    "target_summary",
]
