"""Preprocessing: one scikit-learn pipeline from a raw table to a float64 feature matrix.

``Pipeline([("clean", ColumnCleaner()), ("encode", ColumnTransformer(...))])``:

- ``clean`` (:class:`ColumnCleaner`) decides each column's role on the rows it is fitted on:
  identifier-like columns are dropped (named ``rownames``/``id``/``Unnamed: 0``, any case, or
  non-numeric with every present value distinct); constant columns are dropped with a warning
  naming them (numeric: at most one distinct non-missing value, all-missing included;
  categorical: at most one distinct value counting "missing" as a value); ±inf becomes missing;
  booleans become 0/1 numbers; the rest is numeric (numeric dtype) or categorical (any other).
- ``encode``: numeric → ``SimpleImputer(median)``, an exact power-of-two rescaling
  (:class:`PowerOfTwoScaler`: keeps columns near the float64 limits from overflowing) then
  ``StandardScaler``, so each column is (x − median-imputed mean) / std of the fitting rows; categorical → missing as its own level
  ``"missing"``, then ``OneHotEncoder(handle_unknown="infrequent_if_exist",
  min_frequency=...)``: levels seen in fewer than ``min_frequency`` of the fitting rows (default
  1%, at least 1 row) are grouped into one ``infrequent`` column, and unseen levels map to it.

:func:`fit_preprocess` fits the pipeline on one part (the pretrain rows) and applies it to the
others; :func:`encode_target` turns a target into class codes 0..C−1 (with names) or floats.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from ..exceptions import DataError, ParameterError

IDENTIFIER_NAMES = frozenset({"rownames", "id", "unnamed: 0"})
MISSING_LEVEL = "missing"


def _is_numeric(series: pd.Series) -> bool:
    return (pd.api.types.is_numeric_dtype(series.dtype)
            and not pd.api.types.is_bool_dtype(series.dtype)
            and not isinstance(series.dtype, pd.CategoricalDtype))


def _as_numeric(series: pd.Series) -> pd.Series:
    """Float64 values with ±inf as NaN (booleans as 0/1)."""
    values = pd.to_numeric(series, errors="coerce").astype("float64")
    return values.where(np.isfinite(values.to_numpy(na_value=np.nan)), np.nan)


def _as_text(series: pd.Series) -> pd.Series:
    """Object values, strings for every present level, NaN for missing."""
    missing = series.isna().to_numpy()
    out = series.astype(object).map(str)
    out[missing] = np.nan
    return out.astype(object)


def is_bool_like(series: pd.Series) -> bool:
    return pd.api.types.is_bool_dtype(series.dtype)


class ColumnCleaner(TransformerMixin, BaseEstimator):
    """Decide column roles on the fitting rows and return a cleaned DataFrame.

    Fitted attributes: ``numeric_columns_``, ``categorical_columns_``, ``dropped_identifier_``,
    ``dropped_constant_``, ``feature_names_in_``.
    """

    def fit(self, X: pd.DataFrame, y=None):
        if not isinstance(X, pd.DataFrame):
            raise ParameterError("ColumnCleaner needs a pandas DataFrame")
        if X.shape[0] == 0 or X.shape[1] == 0:
            raise DataError(f"cannot preprocess an empty table ({X.shape[0]} rows, "
                            f"{X.shape[1]} feature columns)")
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        numeric, categorical, identifier, constant = [], [], [], []
        for col in X.columns:
            series = X[col]
            is_num = _is_numeric(series) or is_bool_like(series)
            values = _as_numeric(series) if is_num else _as_text(series)
            present = values.dropna()
            if str(col).strip().lower() in IDENTIFIER_NAMES:
                identifier.append(col)
            elif present.nunique() + (0 if is_num else int(values.isna().any())) <= 1:
                constant.append(col)
            elif not is_num and len(present) >= 2 and present.nunique() == len(present):
                identifier.append(col)
            elif is_num:
                numeric.append(col)
            else:
                categorical.append(col)
        if constant:
            warnings.warn(f"dropped {len(constant)} constant or all-missing column(s): "
                          f"{', '.join(map(str, constant))}", UserWarning, stacklevel=2)
        if not numeric and not categorical:
            raise DataError(f"no usable feature: all {X.shape[1]} feature column(s) are "
                            f"constant, all missing or identifiers "
                            f"({', '.join(map(str, X.columns[:10]))}"
                            f"{', ...' if X.shape[1] > 10 else ''})")
        self.numeric_columns_ = numeric
        self.categorical_columns_ = categorical
        self.dropped_identifier_ = identifier
        self.dropped_constant_ = constant
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "numeric_columns_")
        missing = [c for c in self.numeric_columns_ + self.categorical_columns_
                   if c not in X.columns]
        if missing:
            raise DataError(f"columns missing from the table to transform: {missing}")
        out = {}
        for col in self.numeric_columns_:
            out[col] = _as_numeric(X[col])
        for col in self.categorical_columns_:
            out[col] = _as_text(X[col])
        return pd.DataFrame(out, index=X.index)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "numeric_columns_")
        return np.asarray([str(c) for c in self.numeric_columns_ + self.categorical_columns_],
                          dtype=object)


class PowerOfTwoScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """x · 2^(−e) per column, 2^e the power of two at the column's largest magnitude.

    Multiplying by a power of two is exact in floating point, and standardisation is invariant
    to a column's scale, so the pipeline's output is bit-identical for ordinary columns; for
    columns near the float64 limits (|x| ~ 1e300 or 1e-300) it keeps the mean and variance of
    the standardisation from overflowing to inf or underflowing to 0.
    """

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        with np.errstate(all="ignore"):
            biggest = np.nanmax(np.abs(X), axis=0, initial=0.0)
        finite = np.isfinite(biggest) & (biggest > 0)
        self.exponents_ = np.where(finite, np.frexp(np.where(finite, biggest, 1.0))[1], 0)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        check_is_fitted(self, "exponents_")
        return np.ldexp(np.asarray(X, dtype=np.float64), -self.exponents_[None, :])


def make_preprocessor(*, min_frequency: float | int = 0.01) -> Pipeline:
    """The unfitted preprocessing pipeline (module docstring)."""
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")),
                        ("range", PowerOfTwoScaler()),
                        ("scale", StandardScaler())])
    categorical = Pipeline([
        ("impute", SimpleImputer(strategy="constant", fill_value=MISSING_LEVEL)),
        ("onehot", OneHotEncoder(handle_unknown="infrequent_if_exist",
                                 min_frequency=min_frequency, sparse_output=False,
                                 dtype=np.float64)),
    ])
    encode = ColumnTransformer(
        [("num", numeric, make_column_selector(dtype_include=np.number)),
         ("cat", categorical, make_column_selector(dtype_exclude=np.number))],
        remainder="drop", verbose_feature_names_out=False, sparse_threshold=0.0,
    )
    return Pipeline([("clean", ColumnCleaner()), ("encode", encode)])


def _to_array(values) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(values, dtype=np.float64))


def feature_names(pipeline: Pipeline) -> list[str]:
    """Output feature names of a fitted pipeline (numeric names, then ``column_level``)."""
    try:
        return [str(n) for n in pipeline.get_feature_names_out()]
    except ValueError:  # duplicate names without prefixes: fall back to prefixed names
        encode = pipeline.named_steps["encode"]
        encode.set_params(verbose_feature_names_out=True)
        try:
            return [str(n) for n in pipeline.get_feature_names_out()]
        finally:
            encode.set_params(verbose_feature_names_out=False)


def fit_preprocess(X_fit: pd.DataFrame, *X_apply: pd.DataFrame,
                   min_frequency: float | int = 0.01) -> tuple[Pipeline, list[np.ndarray]]:
    """Fit the pipeline on ``X_fit`` only and transform ``X_fit`` and every ``X_apply``.

    Returns ``(fitted pipeline, [X_fit, *X_apply] as float64 C-contiguous arrays)``.
    """
    pipeline = make_preprocessor(min_frequency=min_frequency)
    fitted = _to_array(pipeline.fit_transform(X_fit))
    others = [_to_array(pipeline.transform(X)) for X in X_apply]
    return pipeline, [fitted, *others]


def _label_name(value) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def encode_target(y: pd.Series, task: str) -> tuple[np.ndarray, list[str] | None]:
    """Classification → int64 codes 0..C−1 and the class names; regression → float64, None.

    Class order: the category order of a categorical target (its unused levels dropped), else
    the sorted distinct values.
    """
    if task == "classification":
        if isinstance(y.dtype, pd.CategoricalDtype):
            present = set(y.dropna().unique())
            classes = [c for c in y.cat.categories if c in present]
            lookup = {c: i for i, c in enumerate(classes)}
            codes = np.array([lookup[v] for v in y], dtype=np.int64)
        else:
            values = y.to_numpy()
            if not _is_numeric(y):
                values = values.astype(str)
            classes, codes = np.unique(values, return_inverse=True)
            codes = codes.astype(np.int64)
        return np.ascontiguousarray(codes), [_label_name(c) for c in classes]
    if task == "regression":
        if not _is_numeric(y) and not is_bool_like(y):
            raise DataError(f"target {y.name!r} is not numeric ({y.dtype}); a regression target "
                            f"must be numbers (use task=classification)")
        return _to_array(pd.to_numeric(y)), None
    raise ParameterError(f"task must be 'regression' or 'classification', got {task!r}")
