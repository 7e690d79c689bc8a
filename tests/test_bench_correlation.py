"""``contextures bench correlation``: the correlation study's outputs, resume and bad input.

The two-dataset quick run is slow (``make bench``); the one-dataset run with a failing dataset
beside it checks the same files in the default suite."""

import csv
import json

import pytest

from contextures.cli.app import main
from contextures.experiments.correlation import PAPER_TABLE1, paper_dataset


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("corr") / "quick"
    args = ["bench", "correlation", "--quick", "--data", "abalone", "--data",
            "sklearn:breast_cancer", "--contexts", "2", "--out", str(out), "-q"]
    assert main(args) == 0
    return out, args


@pytest.mark.slow
def test_summary_has_the_documented_shape(quick_run):
    out, _ = quick_run
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["protocols"]) == {"paper", "paper_ranked", "honest", "honest_ranked"}
    for stats in summary["protocols"].values():
        assert set(stats) == {"pearson", "spearman", "distance_correlation", "n_datasets"}
    assert set(summary["selection_medians"]["selection"]) == {"tau_pick_ratio", "random_ratio",
                                                              "default_ratio"}
    names = [d["name"] for d in summary["datasets"]]
    assert names == ["abalone", "breast_cancer"]
    for d in summary["datasets"]:
        assert d["n_contexts"] == 8             # 2 strengths × 4 families
        assert 0 <= d["n_abstained"] <= 8
        # the paper's protocol correlates every context with a finite τ, abstentions included
        ranked = 8 - d["n_abstained"]
        assert d["protocols"]["paper_ranked"]["n"] == ranked
        assert ranked <= d["protocols"]["paper"]["n"] <= 8
        for protocol in d["protocols"].values():
            for key in ("pearson", "spearman"):
                assert protocol[key] is None or -1 <= protocol[key] <= 1
            assert protocol["distance_correlation"] is None or protocol[
                "distance_correlation"] >= 0
        selection = d["selection"]
        assert selection["random_ratio"] >= 1 and selection["tau_pick_ratio"] >= 1
    rows = list(csv.DictReader((out / "cells.csv").open()))
    assert len(rows) == 16
    assert {r["family"] for r in rows} == {"knn", "rbf", "knn_mask", "rbf_mask"}
    for r in rows:
        assert 1 <= int(r["d_star_paper"]) <= 64
        assert r["err_at_d_val"] == "" or float(r["err_at_d_val"]) >= 0
    assert (out / "figures" / "abalone.png").stat().st_size > 0
    table = (out / "table.md").read_text()
    assert "0.587" in table                     # the paper's median beside ours


@pytest.mark.slow
def test_rerun_skips_every_finished_cell(quick_run, capsys):
    out, args = quick_run
    before = sorted(p.name for p in (out / "cells").iterdir())
    assert main(args) == 0
    assert sorted(p.name for p in (out / "cells").iterdir()) == before


def test_a_dataset_that_fails_to_load_is_recorded_and_the_rest_continue(tmp_path, capsys):
    out = tmp_path / "o"
    code = main(["bench", "correlation", "--quick", "--data", "csv:/no/such.csv:y", "--data",
                 "abalone", "--contexts", "1", "--out", str(out), "-q"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    status = {d["name"]: d["status"] for d in summary["datasets"]}
    assert status == {"such.csv": "failed", "abalone": "ok"}
    assert set(summary["protocols"]) == {"paper", "paper_ranked", "honest", "honest_ranked"}
    rows = list(csv.DictReader((out / "cells.csv").open()))
    assert len(rows) == 4                       # 1 strength × 4 families
    assert {r["family"] for r in rows} == {"knn", "rbf", "knn_mask", "rbf_mask"}
    assert (out / "figures" / "abalone.png").stat().st_size > 0
    assert "0.587" in (out / "table.md").read_text()


@pytest.mark.parametrize("args, fragment", [
    (["--suite", "nosuchsuite"], "nosuchsuite"),
    (["--suite", "offline", "--data", "abalone"], "either"),
    (["--contexts", "0"], "contexts"),
])
def test_bad_input(tmp_path, capsys, args, fragment):
    code = main(["bench", "correlation", "--out", str(tmp_path / "o"), "-q", *args])
    err = capsys.readouterr().err
    assert code not in (0, 70) and "Traceback" not in err
    assert fragment in err


def test_the_paper_datasets_are_matched_by_spec_not_by_name():
    from contextures.datasets import suite

    specs = {m.name: m.spec for m in suite("offline")}
    assert paper_dataset(specs["abalone"]) == "abalone"
    assert paper_dataset("sklearn:diabetes") is None    # not the paper's Pima diabetes
    # sklearn's breast_cancer is WDBC (569 × 30), not breast-w (699 × 9, MASS/biopsy); the
    # paper's health_insurance is the 22 272-row regression table HI, not AER's HealthInsurance
    assert paper_dataset("sklearn:breast_cancer") is None
    assert paper_dataset(specs["biopsy"]) == "breast-w"
    assert paper_dataset(specs["HI"]) == "health_insurance"
    assert paper_dataset(specs["HealthInsurance"]) is None
    assert set(PAPER_TABLE1) >= {"abalone", "cmc", "spambase"}
