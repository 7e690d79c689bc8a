"""``contextures run`` on a real local dask.distributed cluster of two worker processes gives the
same cells, bit for bit, as joblib; the scan and the candidates both run there."""

import json

import pytest

pytest.importorskip("distributed")

from contextures.cli.app import main

SMALL = ["--data", "sklearn:wine", "--max-fit", "120", "--d0", "24", "-q", "--workers", "2"]


def _results(out):
    """Every cell's result without its timing, by cell key (scan and candidates)."""
    found = {}
    for folder in (out / "cells", out / "scan" / "cells"):
        for path in sorted(folder.glob("*.json")):
            record = json.loads(path.read_text())
            assert record["status"] == "ok", record.get("error")
            result = dict(record["result"])
            result.pop("timing", None)
            result.pop("seconds", None)
            found[(folder.relative_to(out).as_posix(), record["key"])] = result
    return found


@pytest.mark.slow
def test_run_on_a_local_dask_cluster_matches_joblib_bit_for_bit(tmp_path):
    assert main(["run", "--out", str(tmp_path / "joblib"), *SMALL]) == 0
    assert main(["run", "--out", str(tmp_path / "dask"), *SMALL, "--backend", "dask"]) == 0
    joblib_cells = _results(tmp_path / "joblib")
    dask_cells = _results(tmp_path / "dask")
    assert len(joblib_cells) >= 10
    assert joblib_cells == dask_cells
    a = json.loads((tmp_path / "joblib" / "summary.json").read_text())
    b = json.loads((tmp_path / "dask" / "summary.json").read_text())
    assert a["recommendation"] == b["recommendation"]


def test_run_refuses_an_unreachable_scheduler_before_any_work(tmp_path, capsys):
    import time

    start = time.perf_counter()
    code = main(["run", "--out", str(tmp_path / "o"), *SMALL, "--backend", "dask",
                 "--scheduler", "tcp://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code != 0 and code != 70
    assert "127.0.0.1:9" in err and "ConnectionRefusedError" in err and "Traceback" not in err
    # nothing listens on that port: refused at once, not after the 10 s connect timeout
    assert time.perf_counter() - start < 8


def test_run_refuses_a_run_estimated_over_its_time_limit(tmp_path, capsys):
    code = main(["run", "--out", str(tmp_path / "o"), "--data", "sklearn:wine", "-q",
                 "--max-time", "0.001s"])
    err = capsys.readouterr().err
    assert code == 11
    assert "estimated to take" in err and "--max-time 0" in err
    assert not (tmp_path / "o" / "cells").exists()
