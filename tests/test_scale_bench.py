"""The scale cases of ``bench spectral`` at small sizes: their figures and targets are recorded."""

import pytest

from contextures.contexts.neighbors import approximate_available
from contextures.experiments import spectral_bench as bench


def test_scale_cases_run_only_when_named():
    assert bench.CASES["knn1m"]["on_request"] and bench.CASES["ann200k"]["on_request"]
    assert bench.synthetic_table("mixture", 50, 8).shape == (50, 8)
    assert bench.synthetic_table("embedding", 50, 128).shape == (50, 128)


def test_knn_cli_case_small(tmp_path):
    config = dict(bench.CASES["knn1m"], rows=3000, d=6)
    figures = bench.run_knn_cli_case("tiny", config, tmp_path, log=lambda *_: None)
    assert figures["agrees"] and figures["max_abs_diff_s2"] <= 1e-6
    assert figures["seconds_ours"] > 0 and figures["seconds_baseline"] > 0
    assert (tmp_path / "tiny.cli.stderr").is_file()


@pytest.mark.skipif(not approximate_available(), reason="needs the ann extra")
def test_ann_case_small():
    config = dict(bench.CASES["ann200k"], rows=6000, d=6)
    figures = bench.run_ann_case("tiny", config, log=lambda *_: None)
    assert figures["recall_all_rows"] >= 0.9
    assert figures["approx_result_exact_flag"] is False
    assert len(figures["estimated_diff_s"]) == 6
    assert figures["max_abs_diff_s"] < 0.05
