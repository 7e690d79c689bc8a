"""Grid cells: a cell is a pure function of its configuration, and is named by it.

A :class:`Cell` pairs a function, importable by name (``"package.module:function"``), with a
configuration of JSON values. The function is called as ``fn(**config)`` and returns a dict of
JSON values (NumPy scalars and arrays are converted). The cell's identity is

    cell_id = sha256(canonical_json({"fn": "package.module:function", "config": config}))[:32]

where canonical JSON sorts keys and has no whitespace, so the same function and configuration
give the same identity in every process, on every machine, in every run. The function receives
the configuration decoded from that canonical JSON, so what it sees does not depend on how the
caller built the dict (tuples become lists, NumPy scalars become Python numbers).

Determinism: a cell must seed everything it draws from its configuration (e.g. a
``random_state`` entry), never from global state, so that its result does not depend on the
backend, the worker or the order in which cells run.

:func:`execute_cell` runs one cell in the current process, with the BLAS/OpenMP thread pools
(threadpoolctl) and torch's intra-op pool capped, and returns its record: status ``"ok"`` with
the result, or ``"failed"`` with the error message; an exception never escapes it (only
``KeyboardInterrupt``/``SystemExit`` do).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import importlib
import json
import math
import os
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..exceptions import ParameterError

RECORD_FORMAT = "contextures-grid-cell"
RECORD_FORMAT_VERSION = 2
"""2: records carry ``config_sha256`` and a ``checksum`` of their content, both checked on read
(records of version 1, without them, are still read when their key and configuration match)."""


def config_sha256(config_json: str) -> str:
    """SHA-256 of a cell's canonical configuration JSON."""
    return hashlib.sha256(config_json.encode("utf-8")).hexdigest()


def record_checksum(record: Mapping[str, Any]) -> str:
    """SHA-256 of a record's canonical JSON (sorted keys), its ``checksum`` field left out: a
    record edited by hand or damaged on disk no longer matches it."""
    body = {k: v for k, v in record.items() if k != "checksum"}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, allow_nan=True,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
ID_LENGTH = 32


# --- JSON values --------------------------------------------------------------------------------
def to_jsonable(value: Any, where: str = "value") -> Any:
    """``value`` as plain JSON types (dict with str keys, list, str, int, float, bool, None).

    NumPy scalars become Python numbers, arrays become nested lists, tuples become lists. Anything
    else (objects, non-string keys, complex numbers) is a :class:`ParameterError` naming where.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise ParameterError(f"{where}: an array of dtype {value.dtype} is not JSON-able")
        return value.tolist()
    if isinstance(value, list | tuple):
        return [to_jsonable(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ParameterError(f"{where}: key {key!r} is not a string (JSON keys must be)")
            out[key] = to_jsonable(item, f"{where}.{key}")
        return out
    raise ParameterError(f"{where}: a {type(value).__name__} is not JSON-able "
                         "(use numbers, strings, booleans, None, lists and dicts)")


def canonical_json(value: Any, where: str = "value") -> str:
    """Sorted-key, whitespace-free JSON of ``value``; NaN and infinities are refused."""
    plain = to_jsonable(value, where)
    try:
        return json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False)
    except ValueError as exc:
        raise ParameterError(f"{where}: {exc} (NaN and infinities have no canonical JSON)") from exc


# --- functions by name --------------------------------------------------------------------------
def function_name(fn: Callable[..., Any]) -> str:
    """``"module:qualname"`` of an importable function; refuses lambdas and closures."""
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        raise ParameterError(f"cell function {fn!r} is not importable by name; define it at the "
                             "top level of a module (no lambdas, closures or nested functions)")
    name = f"{module}:{qualname}"
    if module != "__main__":
        try:
            found = resolve_function(name)
        except ParameterError:
            found = None
        if found is not fn:
            raise ParameterError(f"cell function {fn!r} is not importable as {name!r}")
    return name


def resolve_function(name: str) -> Callable[..., Any]:
    """Import ``"package.module:function"`` (the part after ``:`` may be dotted)."""
    module_name, sep, attr_path = name.partition(":")
    if not sep or not module_name or not attr_path:
        raise ParameterError(f"cell function {name!r} must be written 'package.module:function'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ParameterError(f"cell function {name!r}: cannot import module {module_name!r} "
                             f"({exc})") from exc
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise ParameterError(f"cell function {name!r}: module {module_name!r} has no "
                                 f"{attr_path!r}") from exc
    if not callable(obj):
        raise ParameterError(f"cell function {name!r} is not callable")
    return obj


# --- the cell -----------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Cell:
    """One cell of a grid: ``fn(**config)``, labelled ``key``.

    Parameters
    ----------
    key : a human-readable label, unique within a grid (e.g. ``"abalone/knn(k=30)/seed=0"``).
    fn : ``"package.module:function"``, or the function itself (it must be importable by that
        name, so that worker processes and remote machines can find it).
    config : keyword arguments of ``fn``, JSON values only; seeds belong here.

    Attributes
    ----------
    fn_name : the ``"module:function"`` name.
    config : the configuration as the function will receive it (decoded canonical JSON).
    config_json : its canonical JSON.
    cell_id : the identity, a 32-hex-digit hash of (fn_name, config_json); file name of its record.
    """

    key: str
    fn: str | Callable[..., Any]
    config: Mapping[str, Any] = field(default_factory=dict)
    fn_name: str = field(init=False, repr=False)
    config_json: str = field(init=False, repr=False)
    cell_id: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key:
            raise ParameterError(f"cell key must be a non-empty string, got {self.key!r}")
        if isinstance(self.fn, str):
            name = self.fn.strip()
            module_name, sep, attr = name.partition(":")
            if not sep or not module_name or not attr:
                raise ParameterError(f"cell {self.key!r}: function {self.fn!r} must be written "
                                     "'package.module:function'")
        elif callable(self.fn):
            name = function_name(self.fn)
        else:
            raise ParameterError(f"cell {self.key!r}: fn must be a 'module:function' string or a "
                                 f"function, got {type(self.fn).__name__}")
        if not isinstance(self.config, Mapping):
            raise ParameterError(f"cell {self.key!r}: config must be a dict, "
                                 f"got {type(self.config).__name__}")
        config_json = canonical_json(self.config, f"cell {self.key!r} config")
        identity = json.dumps({"config": json.loads(config_json), "fn": name}, sort_keys=True,
                              separators=(",", ":"), ensure_ascii=False)
        cell_id = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:ID_LENGTH]
        object.__setattr__(self, "fn_name", name)
        object.__setattr__(self, "config_json", config_json)
        object.__setattr__(self, "config", json.loads(config_json))
        object.__setattr__(self, "cell_id", cell_id)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Cell):
            return NotImplemented
        return (self.key, self.cell_id) == (other.key, other.cell_id)

    def __hash__(self) -> int:
        return hash((self.key, self.cell_id))

    def compute(self) -> Any:
        """Call the function in this process, without capture (for debugging one cell)."""
        return resolve_function(self.fn_name)(**json.loads(self.config_json))

    def task(self, threads: int) -> CellTask:
        """What a worker needs to run this cell (small, picklable, no function object)."""
        return CellTask(self.cell_id, self.key, self.fn_name, self.config_json, threads)


@dataclass(frozen=True)
class CellTask:
    """A cell as sent to a worker: names and JSON only."""

    cell_id: str
    key: str
    fn_name: str
    config_json: str
    threads: int


# --- running one cell ---------------------------------------------------------------------------
@contextlib.contextmanager
def capped_threads(threads: int) -> Iterator[None]:
    """Cap BLAS/OpenMP pools (threadpoolctl) and torch's intra-op pool at ``threads``, and run
    the spectral solvers with that count (:func:`contextures.spectral.threads.solver_threads`).

    The previous settings are restored on exit. Torch is capped when it is already imported; a
    cell that imports torch itself gets the cap from the ``OMP_NUM_THREADS`` the runner sets for
    its worker processes (in the calling process, with ``backend="serial"``, torch keeps its own
    default for that first cell), and every later cell of the process is capped on entry.
    """
    from threadpoolctl import threadpool_limits

    from ..spectral.threads import solver_threads

    torch = sys.modules.get("torch")
    saved_torch = None
    if torch is not None:
        saved_torch = torch.get_num_threads()
        torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads), solver_threads(threads):
            yield
    finally:
        if torch is not None and saved_torch is not None:
            torch.set_num_threads(saved_torch)


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


def _check_result(result: Any) -> dict[str, Any]:
    if not isinstance(result, Mapping):
        raise ParameterError(f"a cell must return a dict of JSON values, got "
                             f"{type(result).__name__}")
    plain = to_jsonable(result, "result")
    json.dumps(plain, allow_nan=True)  # cannot fail on plain values; kept as a guard
    return plain


def execute_cell(task: CellTask) -> dict[str, Any]:
    """Run one cell here and return its record (never raises for a failing cell)."""
    started_at = _now()
    start = time.perf_counter()
    result: dict[str, Any] | None = None
    error = None
    trace = None
    try:
        fn = resolve_function(task.fn_name)
        config = json.loads(task.config_json)
        with capped_threads(task.threads):
            raw = fn(**config)
        result = _check_result(raw)
        status = "ok"
    except Exception as exc:  # a failing cell is recorded, the grid goes on
        status = "failed"
        result = None
        error = f"{type(exc).__name__}: {exc}"
        trace = "".join(traceback.format_exception(exc, limit=-8))
    elapsed = time.perf_counter() - start
    return make_record(task, status=status, result=result, error=error, trace=trace,
                       started_at=started_at, elapsed=elapsed)


def make_record(task: CellTask, *, status: str, result: dict[str, Any] | None, error: str | None,
                trace: str | None, started_at: str | None, elapsed: float) -> dict[str, Any]:
    """The JSON record of one finished cell."""
    return {
        "format": RECORD_FORMAT,
        "format_version": RECORD_FORMAT_VERSION,
        "cell_id": task.cell_id,
        "key": task.key,
        "fn": task.fn_name,
        "config": json.loads(task.config_json),
        "status": status,
        "result": result,
        "error": error,
        "traceback": trace,
        "elapsed_seconds": elapsed if math.isfinite(elapsed) else None,
        "started_at": started_at,
        "finished_at": _now(),
        "worker": f"{socket.gethostname()}:{os.getpid()}",
        "threads": task.threads,
    }
