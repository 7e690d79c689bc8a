"""``contextures bench mixing``: an end-to-end quick run, its files, resume and bad input."""

import json

import pytest

from contextures.cli.app import main
from contextures.experiments.mixing import MIXING, MixingSettings, mixing_cell, summarize
from contextures.runner.study import run_study


@pytest.mark.slow
def test_quick_mixing_bench_writes_its_summary(tmp_path, capsys):
    out = tmp_path / "mix"
    code = main(["bench", "mixing", "--quick", "--data", "diabetes", "--out", str(out)])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_datasets"] == 1 and not summary["failed"]
    row = summary["datasets"][0]
    assert row["best_single"] and row["best_mixture"]
    assert 0 < row["single_error"] < 0.5 and 0 < row["mixture_error"] < 0.5
    assert 0 < row["ridge_error"] < 0.5 and 0 < row["gbt_error"] < 0.5
    assert (out / "mixing.png").stat().st_size > 1000
    assert "Best mixture beats" in (out / "table.md").read_text()
    # a rerun resumes: every cell is skipped, same summary
    assert main(["bench", "mixing", "--quick", "--data", "diabetes", "--out", str(out)]) == 0
    again = json.loads((out / "summary.json").read_text())
    assert again["datasets"] == summary["datasets"]


def test_small_mixing_study_writes_its_outputs_and_resumes(tmp_path):
    """The fast variant of the quick bench: one single context, one mixture and the two
    baselines on 400 rows of diabetes, through the same study driver."""
    settings = MixingSettings.quick(datasets=("diabetes",), singles=("knn(k=10)",),
                                    mixtures=("mix(0.5*knn(k=10),0.5*rbf(gamma=median))",),
                                    n_fit=150, n_components=8, max_rows=400)
    out = tmp_path / "mix"
    run_study(MIXING, settings, out, progress=False)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_datasets"] == 1 and not summary["failed"]
    row = summary["datasets"][0]
    assert row["best_single"] == "knn(k=10)" and row["best_mixture"]
    assert 0 < row["single_error"] < 0.5 and 0 < row["ridge_error"] < 0.5
    assert (out / "mixing.png").stat().st_size > 1000
    run_study(MIXING, settings, out, progress=False)
    assert json.loads((out / "summary.json").read_text())["datasets"] == summary["datasets"]


def test_unknown_suite_is_one_clear_line(tmp_path, capsys):
    code = main(["bench", "mixing", "--suite", "nope", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code != 0 and "nope" in err and "Traceback" not in err


def test_minimax_cell_reports_its_weights():
    res = mixing_cell("diabetes", "mix(knn(k=10),rbf(gamma=median),weights=minimax,rounds=3)",
                      n_components=8, n_fit=200, max_rows=600)
    assert res["weights"] is not None and sum(res["weights"]) == pytest.approx(1.0)


def test_summary_counts_wins_and_failures():
    recs = [
        {"status": "ok", "config": {"dataset": "a", "candidate": "s"}, "result": {"error": 1.0}},
        {"status": "ok", "config": {"dataset": "a", "candidate": "m"}, "result": {"error": 0.8}},
        {"status": "ok", "config": {"dataset": "b", "candidate": "s"}, "result": {"error": 1.0}},
        {"status": "ok", "config": {"dataset": "b", "candidate": "m"}, "result": {"error": 1.5}},
        {"status": "failed", "config": {"dataset": "c", "candidate": "s"}, "error": "boom"},
    ]
    summary = summarize(recs, MixingSettings(datasets=("a", "b", "c"), singles=("s",),
                                              mixtures=("m",)))
    assert summary["mixture_wins"] == 1 and summary["n_datasets"] == 2
    assert summary["median_relative_gain"] == pytest.approx((0.2 - 0.5) / 2)
    assert summary["failed"][0]["dataset"] == "c"
