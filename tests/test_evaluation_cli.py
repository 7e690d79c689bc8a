"""``contextures evaluate`` and the per-context evaluation behind it, on small data and abalone."""

import json

import numpy as np
import pandas as pd
import pytest

from contextures.cli.app import main
from contextures.datasets import prepare
from contextures.evaluation import compatibility, ridge_probe_curve, tau
from contextures.evaluation.contexts import effective_d0, evaluate_context
from contextures.exceptions import DataError, ParameterError
from contextures.spectral import Contexture


@pytest.fixture
def small_csv(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(160, 3))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] + 0.1 * rng.normal(size=160)
    path = tmp_path / "small.csv"
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": y}).to_csv(path, index=False)
    return path


def test_evaluate_context_matches_its_parts(small_csv):
    prepared = prepare(f"csv:{small_csv}:y", split_seed=1)
    r = evaluate_context("knn(k=10)", prepared, d0=20, beta=1.0)
    model = Contexture("knn(k=10)", n_components=20, random_state=0).fit(prepared.X_pre)
    np.testing.assert_allclose(r.singular_values, model.singular_values_, atol=1e-8)
    expected = tau(model.singular_values_, d0=20)
    assert r.tau_result.tau == pytest.approx(expected.tau, rel=1e-6)
    assert r.tau_result.d == expected.d
    y = prepared.y_train.astype(float)
    mean, std = y.mean(), y.std()    # regression targets are standardised on downstream-train
    curve = ridge_probe_curve(model.transform(prepared.X_train), (y - mean) / std, None, None,
                              model.transform(prepared.X_test), (prepared.y_test - mean) / std,
                              random_state=0, cv_folds=5)
    assert r.err == pytest.approx(curve.error, rel=1e-6)
    assert r.d_star == model.components_resolved_[curve.d_star - 1] + 1
    assert r.err_at_d_val == pytest.approx(curve.error_at_d_val, rel=1e-6)
    assert r.d_val == model.components_resolved_[curve.d_val - 1] + 1
    record = r.record()
    assert {"context", "tau", "d_hat", "abstain", "decay_rate", "n_resolved", "err", "d_star",
            "err_at_d_val", "d_val", "tau_curve_vs_error_spearman"} <= set(record)
    assert record["context"] == "knn(k=10)"
    # does τ_d track err_d: the Spearman correlation over the d where both are defined
    from scipy.stats import spearmanr

    at = model.components_resolved_[:len(curve.errors)]
    t = np.asarray(expected.curve)[at[at < len(expected.curve)]]
    e = np.asarray(curve.errors)[at < len(expected.curve)]
    ok = np.isfinite(t) & np.isfinite(e)
    rho = spearmanr(t[ok], e[ok]).statistic
    assert record["tau_curve_vs_error_spearman"] == pytest.approx(rho, abs=1e-9)
    assert -1 <= rho <= 1


def test_label_context_closed_forms():
    # a label context: s = 1 (C − 1 times); its eigenfunctions span the centred class indicators,
    # so ρ(one-hot) = 1 and the probe on the training sample is exact at d = C − 1
    rng = np.random.default_rng(1)
    X = rng.normal(size=(150, 2))
    y = rng.integers(0, 3, size=150)
    model = Contexture("label", n_components=2, random_state=0).fit(X, y)
    np.testing.assert_allclose(model.singular_values_, [1.0, 1.0], atol=1e-10)
    mu = model.eigenfunctions_
    assert compatibility(np.eye(3)[y], mu, model.singular_values_).rho == pytest.approx(1.0)
    probe = ridge_probe_curve(mu, y, mu, y, mu, y, task="classification", alphas=[1e-9])
    assert probe.errors[-1] == pytest.approx(0.0, abs=1e-10) and probe.accuracy[-1] == 1.0


def test_effective_d0():
    assert effective_d0(512, 1000) == (512, None)
    d, note = effective_d0(512, 100)
    assert d == 98 and "lowered to n − 2 = 98" in note
    with pytest.raises(ParameterError):
        effective_d0(1, 100)


def test_cli_json_and_table(small_csv, tmp_path, capsys):
    out = tmp_path / "res" / "eval.json"
    code = main(["evaluate", "--data", f"csv:{small_csv}:y", "--context", "knn(k=3)",
                 "--context", "knn(k=30)", "--d0", "20", "--split-seed", "2", "--json", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    payload = json.loads(out.read_text())
    assert set(payload) == {"results", "dataset", "split_seed"}
    assert payload["dataset"] == f"csv:{small_csv}:y" and payload["split_seed"] == 2
    assert [r["context"] for r in payload["results"]] == ["knn(k=3)", "knn(k=30)"]
    prepared = prepare(f"csv:{small_csv}:y", split_seed=2)
    for record in payload["results"]:
        direct = evaluate_context(record["context"], prepared, d0=20)
        assert record["tau"] == pytest.approx(direct.tau_result.tau, rel=1e-6)
        assert record["d_hat"] == direct.tau_result.d
        assert record["abstain"] == direct.tau_result.abstain
        assert record["err"] == pytest.approx(direct.err, rel=1e-6)
        assert isinstance(record["d_star"], int) and 1 <= record["d_star"] <= 20
    # the table ranks by τ, abstentions last and marked
    lines = captured.out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("rank"))
    body = lines[header + 1:header + 3]
    ranked = sorted(payload["results"], key=lambda r: (r["abstain"], r["tau"]))
    for line, record in zip(body, ranked, strict=True):
        assert record["context"] in line
        assert ("abstain" in line) == record["abstain"]


def test_cli_caps_d0_with_a_note(small_csv, capsys):
    code = main(["evaluate", "--data", f"csv:{small_csv}:y", "--context", "knn(k=5)",
                 "--d0", "512"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "d0 = 512 lowered to n − 2" in captured.err


def test_cli_unlabelled_data(tmp_path, capsys):
    rng = np.random.default_rng(3)
    path = tmp_path / "x.csv"
    pd.DataFrame(rng.normal(size=(80, 2)), columns=["a", "b"]).to_csv(path, index=False)
    out = tmp_path / "u.json"
    assert main(["evaluate", "--data", f"csv:{path}", "-c", "knn(k=5)", "--d0", "10",
                 "--json", str(out)]) == 0
    record = json.loads(out.read_text())["results"][0]
    assert record["err"] is None and record["d_star"] is None and record["err_at_d_val"] is None
    capsys.readouterr()
    code = main(["evaluate", "--data", f"csv:{path}", "-c", "knn(k=5)", "--d0", "10", "--probe"])
    err = capsys.readouterr().err
    assert code == DataError.exit_code
    assert err.count("\n") == 1 and "needs a target" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--beta", "0"], "beta must be > 0"),
        (["--beta", "-2"], "beta must be > 0"),
        (["--d0", "1"], "d0 must be"),
        (["--context", "nosuch(k=3)"], "unknown context"),
        (["--context", "knn(k=0)"], "k"),
    ],
)
def test_cli_bad_input(small_csv, capsys, args, message):
    base = ["evaluate", "--data", f"csv:{small_csv}:y", "--context", "knn(k=5)", "--d0", "10"]
    code = main(base + args)
    err = capsys.readouterr().err
    assert code != 0
    assert message in err and "Traceback" not in err
    assert err.startswith("contextures: error:") and err.strip().count("\n") == 0


def test_cli_abalone_quick(tmp_path, capsys):
    out = tmp_path / "a.json"
    code = main(["evaluate", "--data", "abalone", "--context", "knn(k=30)", "--d0", "24",
                 "--json", str(out)])
    assert code == 0, capsys.readouterr().err
    record = json.loads(out.read_text())["results"][0]
    # with only D0 = 24 components s_24 is still large (≈ 0.87), so τ ≫ β + 1: abstain
    assert record["tau"] > 2.0 and record["abstain"] and 1 <= record["d_hat"] <= 23
    assert 0.3 < record["err"] < 1.0  # MSE of the standardised rings


@pytest.mark.slow
def test_cli_abalone_paper_illustration(tmp_path, capsys):
    """§7D: KNN K ∈ {150, 30, 5} on abalone with D0 = 512."""
    out = tmp_path / "d.json"
    code = main(["evaluate", "--data", "abalone", "--context", "knn(k=5)", "--context",
                 "knn(k=30)", "--context", "knn(k=150)", "--json", str(out)])
    assert code == 0, capsys.readouterr().err
    results = {r["context"]: r for r in json.loads(out.read_text())["results"]}
    assert results["knn(k=5)"]["abstain"]  # strong association
    assert not results["knn(k=150)"]["abstain"]
    assert results["knn(k=150)"]["tau"] < results["knn(k=5)"]["tau"]
