"""``contextures bench alignment``: the quick profile end to end, resume, refusal, bad input."""

import csv
import json

import pytest

from contextures.cli.app import main
from contextures.experiments.alignment import AlignmentSettings, scaling_verdicts


def test_quick_alignment_bench_writes_outputs_and_resumes(tmp_path, capsys):
    out = tmp_path / "align"
    args = ["bench", "alignment", "--quick", "--threads", "1", "--quiet", "--out", str(out)]
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["widths"] == [32, 128] and summary["depths"] == [2, 3]
    assert len(summary["cells"]) == 4 and not summary["failed"]
    for cell in summary["cells"]:
        assert cell["n_seeds"] == 1
        assert 0.0 < cell["cca_r2"]["mean"] <= 1.0
        assert 0.0 < cell["mutual_knn"]["mean"] <= 1.0
        assert cell["cca_r2"]["sd"] == 0.0
    # the quick encoders already align well with the exact top-16 eigenfunctions
    assert max(c["cca_r2"]["mean"] for c in summary["cells"]) > 0.7
    assert [v["depth"] for v in summary["scaling"]] == [2, 3]
    assert all(v["verdict"] in ("wider is worse", "plateau", "still improving")
               for v in summary["scaling"])
    with open(out / "cells.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4 and {r["status"] for r in rows} == {"ok"}
    assert {(r["width"], r["depth"]) for r in rows} == {("32", "2"), ("32", "3"), ("128", "2"),
                                                          ("128", "3")}
    for name in ("cca_r2.png", "mutual_knn.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.md").read_text()
    assert "Do larger networks stop helping?" in report and "depth 3: best width" in report
    capsys.readouterr()

    # rerun: every cell is skipped and the summary is unchanged
    assert main(args) == 0
    assert "4 cells: 0 computed, 4 already done" in capsys.readouterr().out
    assert json.loads((out / "summary.json").read_text())["cells"] == summary["cells"]

    # a sub-grid of the same protocol reuses the finished cells
    assert main([*args, "--widths", "32", "--depths", "2"]) == 0
    assert "1 cells: 0 computed, 1 already done" in capsys.readouterr().out

    # another protocol in the same directory is refused, naming the difference
    code = main([*args, "--epochs", "7"])
    err = capsys.readouterr().err
    assert code != 0 and "different configuration" in err and "epochs" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("extra, words", [
    (["--widths", "64,abc"], ["widths", "abc"]),
    (["--depths", "0"], ["depths"]),
    (["--backend", "mpi"], ["backend", "mpi"]),
    (["-d", "100", "--output-dim", "50"], ["output_dim", "100"]),
    (["--context", "nope(k=3)"], ["nope"]),
    (["--data", "no-such-dataset-xyz"], ["no-such-dataset-xyz"]),
])
def test_bad_input_is_one_clear_line(tmp_path, capsys, extra, words):
    code = main(["bench", "alignment", "--quick", "--out", str(tmp_path / "x"), *extra])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err
    for word in words:
        assert word in err
    assert not (tmp_path / "x" / "cells").exists() or not any((tmp_path / "x" / "cells").iterdir())


def _summary(values_by_depth):
    widths = [64, 128, 256]
    cells = [{"width": w, "depth": d, "cca_r2": {"mean": v, "sd": 0.0},
              "mutual_knn": {"mean": v - 0.1, "sd": 0.0}}
             for d, values in values_by_depth.items() for w, v in zip(widths, values, strict=True)]
    return {"widths": widths, "depths": list(values_by_depth), "cells": cells}


def test_scaling_verdicts_compare_best_and_widest():
    verdicts = scaling_verdicts(_summary({2: [0.80, 0.90, 0.85],     # wider is worse
                                          3: [0.80, 0.900, 0.905],   # plateau
                                          4: [0.70, 0.80, 0.90]}))   # still improving
    by_depth = {v["depth"]: v for v in verdicts}
    assert by_depth[2]["verdict"] == "wider is worse" and by_depth[2]["best_width"] == 128
    assert by_depth[2]["gap"] == pytest.approx(0.05)
    assert by_depth[3]["verdict"] == "plateau" and by_depth[3]["best_width"] == 256
    assert by_depth[4]["verdict"] == "still improving" and by_depth[4]["widest_width"] == 256


def test_settings_cells_are_one_per_width_depth_seed():
    settings = AlignmentSettings(widths="64,128", depths=(2, 3, 4), seeds=3)
    cells = settings.cells()
    assert len(cells) == 18 and len({c.cell_id for c in cells}) == 18
    assert cells[0].config["width"] == 64  # cheapest first
    assert "widths" not in settings.protocol() and settings.protocol()["n_components"] == 128


def test_a_single_finished_width_gives_no_verdict():
    summary = _summary({3: [0.8, 0.9, 0.85]})
    for cell in summary["cells"]:
        if cell["width"] != 64:
            cell["cca_r2"] = {"mean": None, "sd": None}
    (verdict,) = scaling_verdicts(summary)
    assert verdict["verdict"] == "undetermined" and verdict["best_width"] == 64
