"""``contextures train`` and ``contextures compare``: neural encoders against the exact contexture.

``train`` fits a :class:`~contextures.encoders.ContextureEncoder` on the pretrain split of a dataset
and saves it to a model directory; ``compare`` measures, on the held-out test rows, how well a saved
encoder aligns with the exact top-D singular functions (the spectral engine fitted on the same
pretrain split) and how close its singular-value estimates are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer

from ..datasets import DEFAULT_DATASET
from ..exceptions import ParameterError, ResultsConflictError
from . import options
from ._output import echo, json_to_stdout, write_json
from .app import app

OBJECTIVE_HELP = ("supervised, contrastive, vicreg, svme, kise, dae, laplacian or nested, "
                  "optionally with parameters, e.g. 'vicreg(invariance=10)'")


def _prepare(data: str, split_seed: int, max_rows: int | None):
    from ..datasets import prepare

    return prepare(data, split_seed=split_seed, max_rows=max_rows)


def _labels_for(context: str, prepared):
    from ..contexts.base import make_context

    ctx = make_context(context)
    return prepared.y_pre if getattr(ctx, "needs_labels", False) else None


def _check_model_dir(out: Path) -> None:
    """Refuse, before training, an --out that cannot become a model directory."""
    from ..exceptions import OutputError

    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {str(out)!r} exists and is not a directory; a model is a "
                          "directory (config.json + model.safetensors): choose another --out")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"--out {str(out)!r}: {str(parent)!r} is not a directory")
            break


@app.command("train")
def train_command(
    data: str = options.data(),
    context: str = options.context(...),
    objective: str = typer.Option(..., "--objective", help=OBJECTIVE_HELP + "."),
    n_components: int = options.components(..., help="d: ordered singular functions to extract."),
    out: Path = typer.Option(..., "--out", help="Model directory to write."),
    epochs: int = typer.Option(200, "--epochs", help="Training epochs."),
    hidden: int = typer.Option(512, "--hidden", help="Hidden width of the network."),
    depth: int = typer.Option(3, "--depth", help="Hidden layers of the MLP."),
    batch_size: int | None = typer.Option(None, "--batch-size",
                                          help="Mini-batch size (default: full batch)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the initialisation and the draws."),
    output_dim: int | None = typer.Option(None, "--output-dim",
                                          help="d₁ ≥ d network outputs (default 4d, ≤ 512)."),
    lr: float = typer.Option(1e-3, "--lr", help="AdamW learning rate."),
    weight_decay: float = typer.Option(1e-4, "--weight-decay", help="AdamW weight decay."),
    activation: str = typer.Option("tanh", "--activation", help="tanh, relu or gelu."),
    skip: bool = typer.Option(True, "--skip/--no-skip", help="Residual connections."),
    architecture: str = typer.Option("mlp", "--architecture", help="mlp, or cnn for images."),
    validation_fraction: float = typer.Option(0.0, "--validation-fraction",
                                              help="Held-out fraction for early stopping."),
    patience: int | None = typer.Option(None, "--patience",
                                        help="Early-stopping patience in epochs."),
    split_seed: int = options.split_seed(),
    max_rows: int | None = options.max_rows(),
    threads: int | None = typer.Option(None, "--threads", help="Torch threads (default: all)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    overwrite: bool = typer.Option(False, "--overwrite",
                                   help="Replace a model of another configuration in --out."),
    quiet: bool = options.QUIET,
) -> None:
    """Train an encoder on the pretrain split and save it to --out."""
    from .._resources import check_threads
    from ..encoders import ContextureEncoder
    from ..encoders.io import CONFIG_NAME, read_config, save_encoder

    _check_model_dir(out)
    check_threads(threads, "--threads")
    metadata = {"data": data, "split_seed": split_seed, "max_rows": max_rows, "split": "pretrain"}
    est = ContextureEncoder(
        context=context, objective=objective, n_components=n_components, output_dim=output_dim,
        hidden=hidden, depth=depth, activation=activation, skip=skip, architecture=architecture,
        epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
        validation_fraction=validation_fraction, patience=patience, random_state=seed,
        device=device, n_threads=threads, verbose=not quiet)
    if (out / CONFIG_NAME).exists() and not overwrite:
        old = read_config(out)
        runtime = ("verbose", "n_threads", "device")   # do not change the model
        new_params = {k: v for k, v in est.get_params().items() if k not in runtime}
        same = (old.get("metadata", {}) == metadata
                and {k: old["params"].get(k) for k in new_params} == new_params)
        if same:
            typer.echo(f"{out}: already holds a model of this configuration (use --overwrite "
                       "to retrain)")
            return
        raise ResultsConflictError(f"{out} holds a model of another configuration; use "
                                   "--overwrite to replace it or choose another --out")
    prepared = _prepare(data, split_seed, max_rows)
    y = _labels_for(context, prepared)
    est.fit(prepared.X_pre, y)
    save_encoder(est, out, metadata=metadata)
    lam = est.eigenvalues_
    shown = ", ".join(f"{v:.4f}" for v in lam[:8]) + (", …" if len(lam) > 8 else "")
    typer.echo(f"trained {est.objective_} on {context} ({prepared.X_pre.shape[0]} pretrain rows, "
               f"d = {n_components}, d₁ = {est.output_dim_}) in {est.n_epochs_} epochs, "
               f"{est.train_time_:.1f} s training, {est.fit_time_:.1f} s total")
    typer.echo(f"estimated s_i²: {shown}")
    typer.echo(f"saved to {out}")


def compare_encoder(model, prepared, context: str, n_components: int) -> dict:
    """Alignment of a fitted encoder with the exact contexture on the test rows of ``prepared``.

    The exact top-D singular functions come from ``Contexture(context, n_components=D)`` fitted on
    the pretrain rows and extended to the test rows by its ``transform``; the encoder's first D
    extracted functions are compared with them: CCA R², mutual-KNN (10 neighbours), and the mean
    absolute error of the eigenvalue estimates, mean_i |λ̂_i − s_i²| over i ≤ D.
    """
    from ..evaluation import cca_r2, mutual_knn
    from ..spectral import Contexture

    d = int(n_components)
    if d < 1:
        raise ParameterError(f"-d must be ≥ 1, got {d}")
    if d > model.n_components:
        raise ParameterError(f"-d {d} exceeds the model's n_components = {model.n_components}")
    if model.n_features_in_ != prepared.X_pre.shape[1]:
        raise ParameterError(f"the model was trained on {model.n_features_in_} features, the data "
                             f"has {prepared.X_pre.shape[1]}: not the same dataset")
    y = _labels_for(context, prepared)
    exact = Contexture(context, n_components=d).fit(prepared.X_pre, y)
    mu_test = exact.transform(prepared.X_test)
    enc_test = model.transform(prepared.X_test)[:, :d]
    # the encoder returns only the components its extraction sample resolves
    k = min(d, enc_test.shape[1], mu_test.shape[1])
    enc_test, mu_test = enc_test[:, :k], mu_test[:, :k]
    s2 = np.asarray(exact.singular_values_, dtype=float)[:d] ** 2
    lam = np.asarray(model.eigenvalues_, dtype=float)[:d]
    return {"cca_r2": float(cca_r2(enc_test, mu_test)),
            "mutual_knn": float(mutual_knn(enc_test, mu_test, k=10)),
            "eigenvalue_mae": float(np.mean(np.abs(lam[:s2.size] - s2[:lam.size]))),
            "n_components": k}


@app.command("compare")
def compare_command(
    data: str | None = options.data(None, help="Dataset spec (default: the one the model was "
                                               "trained on)."),
    context: str | None = options.context(None, help="Context spec of the exact contexture "
                                                     "(default: the model's)."),
    n_components: int | None = options.components(None, help="D: compare the top-D functions "
                                                             "(default: the model's d)."),
    model_dir: Path | None = typer.Option(None, "--model", help="Model directory written by "
                                                                "train."),
    features: Path | None = typer.Option(None, "--features",
                                         help="Your own representation instead of a model: a "
                                              ".npy, .parquet or .csv file with one row per "
                                              "dataset row, in the dataset's order."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the result as JSON "
                                                               "(- for stdout)."),
    split_seed: int | None = options.split_seed(None, help="Split seed (default: the model's)."),
    max_rows: int | None = options.max_rows(help="Row cap (default: the model's)."),
) -> None:
    """Compare a trained encoder (--model) with the exact contexture on the held-out test rows,
    or your own representation (--features) on every row of the dataset."""
    from .._io import check_output_path
    from ..contexts.base import make_context
    from ..encoders import load_encoder

    if (model_dir is None) == (features is None):
        raise ParameterError("compare takes --model DIR (an encoder written by train) or "
                             "--features FILE (your own representation), exactly one of them")
    if json_path is not None and not json_to_stdout(json_path):
        check_output_path(json_path)
    if features is not None:
        compare_features_command(features, data or DEFAULT_DATASET, context, n_components,
                                 json_path, split_seed=split_seed, max_rows=max_rows)
        return
    model = load_encoder(model_dir)
    meta = getattr(model, "metadata_", {}) or {}
    seed = split_seed if split_seed is not None else int(meta.get("split_seed", 0) or 0)
    cap = max_rows if max_rows is not None else meta.get("max_rows")
    data = data or meta.get("data") or DEFAULT_DATASET
    context = context or model.context
    n_components = model.n_components if n_components is None else n_components
    if meta.get("data") not in (None, data):
        typer.echo(f"note: the model was trained on --data {meta['data']!r}", err=True)
    trained_ctx = make_context(model.context).spec()
    if make_context(context).spec() != trained_ctx:
        typer.echo(f"note: the model was trained with context {trained_ctx}", err=True)
    prepared = _prepare(data, seed, cap)
    result = compare_encoder(model, prepared, context, n_components)
    echo(f"{model.objective_} vs exact {context}, top {n_components}, "
         f"{prepared.X_test.shape[0]} test rows: cca_r2 = {result['cca_r2']:.4f}, "
         f"mutual_knn = {result['mutual_knn']:.4f}, "
         f"eigenvalue_mae = {result['eigenvalue_mae']:.4f}", json_path)
    if json_path is not None:
        write_json(json_path, result)


def compare_features_command(path: Path, data: str, context: str | None,
                             n_components: int | None, json_path: Path | None, *,
                             split_seed: int | None, max_rows: int | None) -> None:
    """``compare --features``: :func:`~contextures.evaluation.features.compare_features` on every
    row of the dataset, in its order (the file must hold one row per dataset row)."""
    from ..evaluation.features import compare_features, read_features
    from .spectrum import load_rows

    if context is None:
        raise ParameterError("compare --features needs --context, the context to compare with")
    if max_rows is not None or split_seed is not None:
        raise ParameterError("compare --features uses every row of the dataset, in its order: "
                             "--max-rows and --split-seed do not apply")
    from ..contexts.base import make_context

    make_context(context)
    F = read_features(path)
    X, y, _ = load_rows(data, all_rows=True, split_seed=0)
    if F.shape[0] != X.shape[0]:
        raise ParameterError(f"--features {path} has {F.shape[0]} rows, dataset {data!r} has "
                             f"{X.shape[0]}: one row per dataset row, in the dataset's order")
    labels = y if getattr(make_context(context), "needs_labels", False) else None
    result = compare_features(F, X, context, y=labels, n_components=n_components)
    record = {"data": data, "features": str(path), **result.record()}
    echo(f"{path} ({result.n_rows} rows × {result.n_features} features, rank {result.rank}) vs "
         f"exact {result.context} on {data}, top {result.n_components}:", json_path)
    for name in ("cca_r2", "mutual_knn", "cka"):
        echo(f"  {name:<18} {getattr(result, name):.4f}", json_path)
    echo(f"  {'ratio_trace':<18} {result.ratio_trace:.4f}   (≤ ky_fan_bound = s_1² + … + "
         f"s_{result.rank}² = {result.ky_fan_bound:.4f}; ratio_trace_share "
         f"{result.ratio_trace_share:.4f})", json_path)
    if json_path is not None:
        write_json(json_path, record)
