"""``contextures train`` / ``contextures compare`` on the bundled abalone data (small, fast runs)."""

import json

import numpy as np
import pandas as pd
import pytest

from contextures.cli.app import main
from contextures.encoders import load_encoder

TRAIN = ["train", "--data", "abalone", "--context", "knn(k=30)", "-d", "4", "--epochs", "30",
         "--hidden", "32", "--depth", "2", "--output-dim", "16", "--threads", "1", "--quiet"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "model"
    assert main([*TRAIN, "--objective", "kise", "--out", str(out)]) == 0
    return out


def test_train_writes_a_model(trained, capsys):
    model = load_encoder(trained)
    assert model.objective_ == "kise" and model.n_components == 4
    assert model.metadata_["data"] == "abalone" and model.metadata_["split_seed"] == 0
    assert len(model.history_["train"]) == 30


def test_rerun_same_configuration_is_a_no_op(trained, capsys):
    assert main([*TRAIN, "--objective", "kise", "--out", str(trained)]) == 0
    assert "already holds a model of this configuration" in capsys.readouterr().out


def test_other_configuration_in_the_same_directory_is_refused(trained, capsys):
    code = main([*TRAIN, "--objective", "nested", "--out", str(trained)])
    assert code == 8
    assert "another configuration" in capsys.readouterr().err


def test_compare_writes_the_json(trained, tmp_path, capsys):
    path = tmp_path / "cmp.json"
    assert main(["compare", "--data", "abalone", "--context", "knn(k=30)", "-d", "4",
                 "--model", str(trained), "--json", str(path)]) == 0
    result = json.loads(path.read_text())
    assert set(result) == {"cca_r2", "mutual_knn", "eigenvalue_mae", "n_components"}
    assert result["n_components"] == 4
    assert 0.0 <= result["cca_r2"] <= 1.0 and 0.0 <= result["mutual_knn"] <= 1.0
    assert result["eigenvalue_mae"] >= 0.0
    assert "cca_r2 = " in capsys.readouterr().out


def test_kernel_objective_on_a_sample_only_context(tmp_path, capsys):
    rng = np.random.default_rng(0)
    images = pd.DataFrame(rng.random((60, 16)), columns=[f"p{i}" for i in range(16)])
    images.to_csv(tmp_path / "images.csv", index=False)
    rc = main(["train", "--data", f"csv:{tmp_path / 'images.csv'}", "--context", "crop(alpha=0.5)",
               "--objective", "kise", "-d", "2", "--hidden", "8", "--epochs", "2", "--quiet",
               "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert rc == 2 and "needs kernel access" in err and "can only be sampled" in err


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--objective", "kise", "--context", "knn(k=0)"], 2, "k"),
    (["--objective", "simclr"], 2, "unknown objective"),
    (["--objective", "supervised"], 2, "needs a label context"),
    (["--objective", "kise", "--batch-size", "8"], 2, "smaller than the output dimension"),
])
def test_train_bad_input(tmp_path, capsys, args, code, message):
    base = [a for a in TRAIN]
    if "--context" in args:
        i = base.index("--context")
        del base[i:i + 2]
    rc = main([*base, *args, "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert rc == code
    assert err.startswith("contextures: error:") and message in err
    assert "Traceback" not in err


def test_compare_bad_input(trained, tmp_path, capsys):
    rc = main(["compare", "--data", "abalone", "--context", "knn(k=30)", "-d", "4",
               "--model", str(tmp_path / "missing")])
    assert rc == 6 and "does not exist" in capsys.readouterr().err
    rc = main(["compare", "--data", "abalone", "--context", "knn(k=30)", "-d", "9",
               "--model", str(trained)])
    assert rc == 2 and "exceeds the model's n_components" in capsys.readouterr().err


def test_bench_encoders_writes_its_figures(tmp_path, capsys):
    rc = main(["bench", "encoders", "--sections", "B", "--out", str(tmp_path)])
    assert rc == 0
    result = json.loads((tmp_path / "encoders_weights.json").read_text())
    rows = {(r["m"], r["estimate"]): r for r in result["B"]}
    assert rows[(64, "Horvitz–Thompson")]["mean_abs_bias"] < 0.03
    assert rows[(64, "V-statistic (biased)")]["mean_abs_bias"] > 0.3
    assert not (tmp_path / "SECTION.md").exists()      # written only with every section
    assert main(["bench", "encoders", "--sections", "BX", "--out", str(tmp_path)]) == 2
