"""``contextures evaluate`` reports the context complexity κ in its table and its JSON."""

import pytest

pytestmark = pytest.mark.usefixtures("one_thread")


def test_evaluate_prints_and_writes_kappa(tmp_path, capsys):
    import json

    from contextures.cli.app import main

    out = tmp_path / "e.json"
    code = main(["evaluate", "--data", "diabetes", "-c", "knn(k=10)", "-c", "knn(k=50)",
                 "--d0", "16", "--json", str(out)])
    assert code == 0
    assert "kappa" in capsys.readouterr().out
    kappas = {r["context"]: r["kappa"] for r in json.loads(out.read_text())["results"]}
    assert kappas["knn(k=10)"] > kappas["knn(k=50)"] > 1.0
