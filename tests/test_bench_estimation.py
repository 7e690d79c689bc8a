"""``contextures bench estimation``: the quick profile end to end, resume, refusal, bad input,
and the estimators against closed forms."""

import csv
import json

import numpy as np
import pytest

from contextures.cli.app import main
from contextures.encoders.extraction import solve_generalized
from contextures.experiments.estimation import (
    EstimationSettings,
    batch_partition,
    estimate_matrices,
    parse_sample_sizes,
)
from contextures.spectral import Contexture


def test_quick_estimation_bench_writes_outputs_and_resumes(tmp_path, capsys):
    out = tmp_path / "est"
    args = ["bench", "estimation", "--quick", "--threads", "1", "--quiet", "--out", str(out)]
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sample_sizes"] == [20, 200, "full"] and not summary["failed"]
    rows = {str(r["m"]): r for r in summary["rows"]}
    assert set(rows) == {"20", "200", "full"}
    for row in rows.values():
        assert 0.0 <= row["mae_batched"]["mean"] < 0.2
        assert row["paper_mae"] is None  # the quick protocol is not the paper's
    assert rows["full"]["m_used"] == 700
    # m = full: both estimators are the exact extraction
    assert rows["full"]["mae_subsample"]["mean"] == pytest.approx(rows["full"]["mae_batched"]["mean"])
    assert rows["20"]["mae_subsample"]["mean"] is None  # m ≤ r = 32: undefined
    assert rows["200"]["mae_subsample"]["mean"] >= 0.0
    assert rows["20"]["n_batches"] == 35 and rows["20"]["batch_rows"] == 20
    with open(out / "cells.csv", newline="") as fh:
        cells = list(csv.DictReader(fh))
    assert len(cells) == 3 and {c["status"] for c in cells} == {"ok"}
    assert (out / "estimation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "paper MAE" in (out / "table.md").read_text()
    capsys.readouterr()

    assert main(args) == 0
    assert "3 cells: 0 computed, 3 already done" in capsys.readouterr().out

    code = main([*args, "--width", "64"])
    err = capsys.readouterr().err
    assert code != 0 and "different configuration" in err and "width" in err


@pytest.mark.parametrize("extra, words", [
    (["--m", "100,abc"], ["abc"]),
    (["--m", "1"], ["m must be"]),
    (["--top", "600"], ["600"]),
    (["--backend", "spark"], ["spark"]),
    (["--data", "no-such-dataset-xyz"], ["no-such-dataset-xyz"]),
])
def test_bad_input_is_one_clear_line(tmp_path, capsys, extra, words):
    code = main(["bench", "estimation", "--quick", "--out", str(tmp_path / "x"), *extra])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err
    for word in words:
        assert word in err


def test_parse_sample_sizes():
    assert parse_sample_sizes("100, 300,FULL") == (100, 300, "full")
    assert EstimationSettings().sample_sizes == (100, 300, 600, 1000, 2000, "full")


def test_batch_partition_covers_every_row_once():
    rng = np.random.default_rng(0)
    parts = batch_partition(1030, 100, rng)
    sizes = [len(p) for p in parts]
    assert sum(sizes) == 1030 and len(np.unique(np.concatenate(parts))) == 1030
    assert len(sizes) == 11 and set(sizes) == {93, 94}  # ⌈n/m⌉ near-equal batches, ≤ m rows
    assert [len(p) for p in batch_partition(2923, 2000, rng)] == [1462, 1461]
    assert [len(p) for p in batch_partition(500, 500, rng)] == [500]


@pytest.fixture(scope="module")
def exact_small():
    rng = np.random.default_rng(3)
    X = np.concatenate([rng.normal(0, 1, (200, 3)), rng.normal(4, 1, (200, 3))])
    model = Contexture("knn(k=10)", n_components=8, random_state=0).fit(X)
    return model, model.context_.operator()


def test_full_estimate_of_exact_eigenfunctions_gives_exact_eigenvalues(exact_small):
    model, op = exact_small
    F = model.eigenfunctions_
    C, B = estimate_matrices(F, op, [np.arange(F.shape[0])])
    lam, _, _ = solve_generalized(B, C, 8, rcond=1e-12)
    np.testing.assert_allclose(lam, model.singular_values_ ** 2, atol=1e-8)


def test_batched_estimate_is_close_for_large_batches(exact_small):
    model, op = exact_small
    F = model.eigenfunctions_
    s2 = model.singular_values_ ** 2
    errs = []
    for seed in range(5):
        C, B = estimate_matrices(F, op, batch_partition(400, 200, np.random.default_rng(seed)))
        lam, _, _ = solve_generalized(B, C, 8, rcond=1e-12)
        errs.append(np.mean(np.abs(lam - s2)))
    assert np.mean(errs) < 0.05
