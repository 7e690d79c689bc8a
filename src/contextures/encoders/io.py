"""Model files: a directory with ``config.json`` and ``model.safetensors``; loading never unpickles.

Layout of a saved :class:`~contextures.encoders.estimator.ContextureEncoder`::

    DIR/config.json         format name and version, library version, the estimator's parameters
                            (context and objective as spec strings), the network's hyperparameters,
                            tensor names and shapes, SHA-256 of the weights file, training history,
                            free-form metadata (the CLI records the data spec and split seed)
    DIR/model.safetensors   encoder.* (network weights and its input standardisation
                            encoder.{shift,scale}; files without them read as the identity),
                            extraction.{mean,coef,eigenvalues,C,B} (coef: one column per resolved
                            component, config extraction.n_resolved),
                            and for Φ = TΨ encoders context.X (and context.y): the training values
                            the context is refitted on at load time

:func:`load_encoder` checks, in this order, that both files exist, the JSON parses and names this
format, the version is one this library reads, every field has the expected type and range, the
weights file has the recorded hash (truncation, modification), the safetensors header lists exactly
the recorded tensors with the shapes the configured network needs (checked on a ``meta``-device
network, so a hostile config cannot make the loader allocate), and only then loads the tensors.
Anything else is a :class:`~contextures.exceptions.ModelFileError` naming the problem.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save as save_tensors

from .. import __version__
from .._io import atomic_write_bytes, atomic_write_json
from .._memory import check_allocation, resolve_budget
from .._resources import available_cores
from ..exceptions import ContexturesError, MemoryBudgetError, ModelFileError, OutputError
from ..spec import parse_spec
from .extraction import Extraction
from .networks import ACTIVATIONS, ARCHITECTURES, build_network

FORMAT = "contextures-encoder"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
MAX_CONFIG_BYTES = 20 * 1024 * 1024
FEATURE_KINDS = ("phi", "t_psi", "psi")
_MAX_DIM = 1 << 20
LOAD_COPIES = 3   # bytes held per stored byte while loading (the tensors, float64 copies, network)
_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
                "U8": 1, "BOOL": 1, "FLOAT64": 8, "FLOAT32": 4, "FLOAT16": 2, "BFLOAT16": 2,
                "INT64": 8, "INT32": 4, "INT16": 2, "INT8": 1, "UINT8": 1}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.bool_):
        return bool(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


def save_encoder(est, path, metadata: dict | None = None) -> Path:
    """Write a fitted encoder to the directory ``path`` (created if needed); returns it."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(est, "extraction_")
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise OutputError(f"cannot write the model to {str(out)!r}: it exists and is not a "
                          "directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the model directory {str(out)!r}: "
                          f"{exc.strerror or exc}") from None
    net = est.encoder_
    tensors: dict[str, torch.Tensor] = {
        f"encoder.{k}": v.detach().to("cpu").contiguous() for k, v in net.state_dict().items()
    }
    ex: Extraction = est.extraction_
    for name in ("mean", "coef", "eigenvalues", "C", "B"):
        tensors[f"extraction.{name}"] = torch.from_numpy(
            np.ascontiguousarray(getattr(ex, name), dtype=np.float64))
    if est.features_ == "t_psi":
        tensors["context.X"] = torch.from_numpy(np.ascontiguousarray(est._X_fit, np.float64))
        if est._y_fit is not None:
            tensors["context.y"] = torch.from_numpy(
                np.ascontiguousarray(est._y_fit, dtype=np.float64))
    weights_path = out / WEIGHTS_NAME
    weights = save_tensors(tensors, metadata={"format": FORMAT})
    atomic_write_bytes(weights_path, weights)
    params = est.get_params()
    ctx = params["context"]
    params["context"] = ctx if isinstance(ctx, str) else ctx.spec()
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "params": params,
        "objective": est.objective_,
        "features": est.features_,
        "network": network_config(est),
        "n_components": int(est.n_components),
        "n_features_in": int(est.n_features_in_),
        "extraction": {"n_samples": int(ex.n_samples), "method": ex.method, "rank": int(ex.rank),
                       "n_resolved": int(ex.n_resolved), "noise_floor": float(ex.noise_floor)},
        "history": est.history_,
        "n_epochs": int(est.n_epochs_),
        "train_time": float(est.train_time_),
        "fit_time": float(est.fit_time_),
        "tensors": {k: list(v.shape) for k, v in tensors.items()},
        "weights_file": WEIGHTS_NAME,
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
        "metadata": metadata if metadata is not None else getattr(est, "metadata_", {}),
    }
    # the config goes last: it records the weights' hash, so a directory whose writer was killed
    # between the two files is refused by the loader, never half-read
    atomic_write_json(out / CONFIG_NAME, _json_safe(config))
    return out


def network_config(est) -> dict:
    """The hyperparameters that rebuild the encoder network."""
    net = est.encoder_
    arch = "cnn" if type(net).__name__ == "SmallCNN" else "mlp"
    return {"architecture": arch, "in_dim": int(est.n_features_in_),
            "out_dim": int(est.output_dim_), "hidden": int(est.hidden), "depth": int(est.depth),
            "activation": str(est.activation).lower(), "skip": bool(est.skip)}


# --- loading ------------------------------------------------------------------------------------


def _fail(path: Path, message: str) -> ModelFileError:
    return ModelFileError(f"model {path}: {message}")


def _require(cond: bool, path: Path, message: str) -> None:
    if not cond:
        raise _fail(path, message)


def _int_field(d: dict, key: str, path: Path, lo: int = 1, hi: int = _MAX_DIM) -> int:
    v = d.get(key)
    _require(isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi, path,
             f"config field {key!r} must be an integer in [{lo}, {hi}], got {v!r}")
    return v


def read_config(path) -> dict:
    """The validated config of a model directory (no tensors read)."""
    root = Path(path)
    if not root.exists():
        raise _fail(root, "does not exist")
    if not root.is_dir():
        raise _fail(root, f"expected a model directory holding {CONFIG_NAME} and {WEIGHTS_NAME}")
    cfg_path = root / CONFIG_NAME
    if not cfg_path.is_file():
        raise _fail(root, f"missing {CONFIG_NAME}: not a model directory")
    size = cfg_path.stat().st_size
    _require(0 < size <= MAX_CONFIG_BYTES, root, f"{CONFIG_NAME} is empty or too large "
             f"({size} bytes)")
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _fail(root, f"{CONFIG_NAME} is not valid JSON (truncated or corrupted): "
                          f"{str(exc)[:200]}") from None
    _require(isinstance(config, dict), root, f"{CONFIG_NAME} must hold a JSON object")
    _require(config.get("format") == FORMAT, root,
             f"not a contextures encoder file (format {config.get('format')!r})")
    version = config.get("format_version")
    _require(isinstance(version, int) and not isinstance(version, bool), root,
             "format_version missing")
    if version != FORMAT_VERSION:
        raise _fail(root, f"format version {version} is not supported: this library "
                          f"({__version__}) reads format version {FORMAT_VERSION}; "
                          f"the file was written by contextures "
                          f"{config.get('library_version', '?')}")
    net = config.get("network")
    _require(isinstance(net, dict), root, "config has no network section")
    _require(net.get("architecture") in ARCHITECTURES, root,
             f"unknown architecture {net.get('architecture')!r}")
    _require(net.get("activation") in ACTIVATIONS, root,
             f"unknown activation {net.get('activation')!r}")
    _require(isinstance(net.get("skip"), bool), root, "network.skip must be a boolean")
    for key in ("in_dim", "out_dim", "hidden"):
        _int_field(net, key, root)
    _int_field(net, "depth", root, hi=1024)
    _require(config.get("features") in FEATURE_KINDS, root,
             f"unknown feature kind {config.get('features')!r}")
    d = _int_field(config, "n_components", root)
    _require(d <= net["out_dim"], root, "n_components exceeds the network's output dimension")
    _require(config.get("n_features_in") == net["in_dim"], root,
             "n_features_in does not match the network's input dimension")
    params = config.get("params")
    _require(isinstance(params, dict), root, "config has no params section")
    _require(isinstance(params.get("context"), str), root, "params.context must be a spec string")
    try:
        parse_spec(params["context"])
        parse_spec(str(config.get("objective")))
    except ContexturesError as exc:
        raise _fail(root, f"stored spec does not parse: {exc}") from None
    tensors = config.get("tensors")
    _require(isinstance(tensors, dict) and all(
        isinstance(k, str) and isinstance(v, list) and all(
            isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= 1 << 31 for x in v)
        for k, v in tensors.items()), root, "config field 'tensors' is malformed")
    _require(isinstance(config.get("weights_sha256"), str), root, "weights_sha256 missing")
    return config


def _expected_network_shapes(net_cfg: dict) -> dict[str, list[int]]:
    with torch.device("meta"):
        net = build_network(net_cfg["architecture"], net_cfg["in_dim"], net_cfg["out_dim"],
                            hidden=net_cfg["hidden"], depth=net_cfg["depth"],
                            activation=net_cfg["activation"], skip=net_cfg["skip"])
    return {f"encoder.{k}": list(v.shape) for k, v in net.state_dict().items()}


def _header(root: Path, weights_path: Path) -> dict[str, tuple[list[int], str]]:
    """Shape and dtype of every tensor in the safetensors header (nothing else is read)."""
    try:
        with safe_open(str(weights_path), framework="pt") as fh:
            return {k: (list(fh.get_slice(k).get_shape()), str(fh.get_slice(k).get_dtype()))
                    for k in fh.keys()}
    except Exception as exc:  # safetensors raises its own error types for bad headers
        raise _fail(root, f"{WEIGHTS_NAME} is not a readable safetensors file: {exc}") from None


def _tensor_bytes(header: dict[str, tuple[list[int], str]]) -> int:
    total = 0
    for shape, dtype in header.values():
        size = _DTYPE_BYTES.get(dtype.upper(), 8)
        total += math.prod(shape) * size
    return total


def load_encoder(path, *, memory_budget: int | str | None = None):
    """Read a model directory written by :func:`save_encoder` (see the module docstring).

    Before any tensor is read (and before the file is hashed), the header's shapes must be the
    ones the configured architecture implies, and the tensors' total size, with the float64
    copies loading makes (:data:`LOAD_COPIES` bytes per stored byte), must fit the memory budget
    (``memory_budget``, else ``CONTEXTURES_MEMORY_BUDGET``, else half the available memory):
    otherwise :class:`~contextures.exceptions.MemoryBudgetError`.
    """
    from .estimator import ContextureEncoder

    root = Path(path)
    config = read_config(root)
    weights_path = root / WEIGHTS_NAME
    if not weights_path.is_file():
        raise _fail(root, f"missing {WEIGHTS_NAME}")
    header = _header(root, weights_path)
    budget = resolve_budget(memory_budget)
    stored = _tensor_bytes(header)
    try:
        check_allocation(LOAD_COPIES * stored, budget,
                         f"loading the {len(header)} tensors of {weights_path} ({stored} bytes "
                         "stored)")
    except MemoryBudgetError as exc:
        raise MemoryBudgetError(f"model {root}: {exc}") from None
    net_cfg = config["network"]
    d = config["n_components"]
    d1 = net_cfg["out_dim"]
    ex = config.get("extraction")
    ex = ex if isinstance(ex, dict) else {}
    n_resolved = ex.get("n_resolved", d)
    _require(isinstance(n_resolved, int) and not isinstance(n_resolved, bool)
             and 1 <= n_resolved <= d, root,
             f"extraction.n_resolved must be an integer in [1, {d}], got {n_resolved!r}")
    expected = _expected_network_shapes(net_cfg)
    expected.update({"extraction.mean": [d1], "extraction.coef": [d1, n_resolved],
                     "extraction.eigenvalues": [d], "extraction.C": [d1, d1],
                     "extraction.B": [d1, d1]})
    if config["features"] == "t_psi":
        expected["context.X"] = [config["tensors"].get("context.X", [0, 0])[0],
                                 net_cfg["in_dim"]]
    recorded = config["tensors"]
    optional = {"context.y"} if config["features"] == "t_psi" else set()
    keys = set(header)
    shapes = {k: shape for k, (shape, _) in header.items()}
    optional |= {"encoder.shift", "encoder.scale"}     # files written before standardisation
    missing = sorted(set(expected) - keys - optional)
    extra = sorted(keys - set(expected) - optional)
    _require(not missing, root, f"tensors missing from {WEIGHTS_NAME}: {', '.join(missing[:5])}")
    _require(not extra, root, f"unexpected tensors in {WEIGHTS_NAME}: {', '.join(extra[:5])}")
    for k, shape in shapes.items():
        want = expected.get(k)
        if want is not None and shape != want:
            raise _fail(root, f"tensor {k} has shape {shape}, the configured network needs {want}")
        if recorded.get(k) != shape:
            raise _fail(root, f"tensor {k} has shape {shape}, the config records "
                              f"{recorded.get(k)}")
    if _sha256(weights_path) != config["weights_sha256"]:
        raise _fail(root, f"{WEIGHTS_NAME} does not match the hash recorded in {CONFIG_NAME} "
                          "(truncated, corrupted or modified)")
    try:
        with safe_open(str(weights_path), framework="pt") as fh:
            loaded = {k: fh.get_tensor(k) for k in keys}
    except Exception as exc:
        raise _fail(root, f"cannot read the tensors of {WEIGHTS_NAME}: {exc}") from None
    for k, t in loaded.items():
        if not torch.isfinite(t).all():
            raise _fail(root, f"tensor {k} holds NaN or infinite values")
    if "encoder.scale" in loaded:
        _require(bool((loaded["encoder.scale"] > 0).all()), root,
                 "tensor encoder.scale (the input standardisation) must be positive")
    if "context.y" in loaded:
        _require(list(loaded["context.y"].shape)[:1] == shapes["context.X"][:1], root,
                 "tensor context.y does not have one entry per row of context.X")

    params = dict(config["params"])
    est = ContextureEncoder()
    known = set(est.get_params())
    est.set_params(**{k: v for k, v in params.items() if k in known})
    threads = params.get("n_threads")
    if threads is not None and not (isinstance(threads, int) and not isinstance(threads, bool)
                                    and 1 <= threads <= available_cores()):
        est.set_params(n_threads=None)   # a runtime setting: another machine's (or a hostile)
        #                                   count is replaced by this machine's cores
    est.set_params(n_components=d)   # the value validated against the tensors wins
    net = build_network(net_cfg["architecture"], net_cfg["in_dim"], d1,
                        hidden=net_cfg["hidden"], depth=net_cfg["depth"],
                        activation=net_cfg["activation"], skip=net_cfg["skip"])
    state = {k[len("encoder."):]: v for k, v in loaded.items() if k.startswith("encoder.")}
    state.setdefault("shift", torch.zeros(net_cfg["in_dim"]))
    state.setdefault("scale", torch.ones(net_cfg["in_dim"]))
    net.load_state_dict(state, strict=True)
    net.eval()
    est.encoder_ = net
    est.extraction_ = Extraction(
        mean=loaded["extraction.mean"].numpy().astype(np.float64),
        coef=loaded["extraction.coef"].numpy().astype(np.float64),
        eigenvalues=loaded["extraction.eigenvalues"].numpy().astype(np.float64),
        C=loaded["extraction.C"].numpy().astype(np.float64),
        B=loaded["extraction.B"].numpy().astype(np.float64),
        n_samples=int(ex.get("n_samples", 0)) if isinstance(ex.get("n_samples"), int) else 0,
        method=str(ex.get("method", "")), rank=int(ex.get("rank", d)) if isinstance(
            ex.get("rank"), int) else d,
        noise_floor=float(ex["noise_floor"]) if isinstance(ex.get("noise_floor"), float | int)
        and not isinstance(ex.get("noise_floor"), bool) else 0.0)
    est.features_ = config["features"]
    est.objective_ = str(config["objective"])
    est.output_dim_ = d1
    est.n_features_in_ = net_cfg["in_dim"]
    est.n_components_resolved_ = n_resolved
    from .estimator import _float64_copy

    est._inference_net = _float64_copy(net)
    est.eigenvalues_ = est.extraction_.eigenvalues.copy()
    est.singular_values_ = np.sqrt(np.clip(est.eigenvalues_, 0, None))
    est.history_ = config.get("history") if isinstance(config.get("history"), dict) else {}
    est.n_epochs_ = config.get("n_epochs") if isinstance(config.get("n_epochs"), int) else 0
    est.train_time_ = float(config.get("train_time") or 0.0)
    est.fit_time_ = float(config.get("fit_time") or 0.0)
    est.device_ = "cpu"
    est.metadata_ = config.get("metadata") if isinstance(config.get("metadata"), dict) else {}
    est._psi_values = None
    est._train_P = None
    if est.features_ == "t_psi":
        est._X_fit = loaded["context.X"].numpy().astype(np.float64)
        est._y_fit = loaded["context.y"].numpy() if "context.y" in loaded else None
        est.context_ = None
    else:
        est._X_fit = None
        est._y_fit = None
    return est
