"""The study skeleton: settings → cells on the grid runner → summary → outputs, resumable."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from contextures.exceptions import ParameterError
from contextures.runner import Cell, Study, StudySettings, run_study


def square_cell(x: int) -> dict:
    return {"square": x * x}


@dataclass(frozen=True)
class SquareSettings:
    values: tuple[int, ...] = (1, 2, 3, 4)
    offset: int = 0

    @classmethod
    def quick(cls, **overrides) -> SquareSettings:
        return cls(**{"values": (1, 2), **overrides})

    def protocol(self) -> dict:
        return {"study": "squares", "offset": self.offset}

    def cells(self) -> list[Cell]:
        return [Cell(f"x={v}", square_cell, {"x": v + self.offset}) for v in self.values]


def summarize(records, settings, run=None) -> dict:
    return {"total": sum(r["result"]["square"] for r in records if r["status"] == "ok"),
            "computed": None if run is None else run.grid.done}


def write_outputs(summary, out_dir: Path) -> list[Path]:
    path = Path(out_dir) / "summary.json"
    path.write_text(json.dumps(summary))
    return [path]


SQUARES = Study("squares", SquareSettings, summarize, write_outputs)


def test_run_study_runs_summarises_and_resumes(tmp_path):
    settings = SquareSettings.quick()
    assert isinstance(settings, StudySettings)
    lines: list[str] = []
    first = run_study(SQUARES, settings, tmp_path, backend="serial", progress=False,
                      echo=lines.append)
    assert first.summary == {"total": 5, "computed": 2}
    assert first.written == [tmp_path / "summary.json"]
    assert lines == ["2 cells: 2 computed, 0 already done, 0 failed (0 s)"]
    # a complete directory only re-summarises
    again = run_study(SQUARES, settings, tmp_path, backend="serial", progress=False)
    assert again.grid.skipped == 2 and again.summary == {"total": 5, "computed": 0}
    # the axes are not in the protocol: more values reuse the finished cells
    more = run_study(SQUARES, SquareSettings(), tmp_path, backend="serial", progress=False)
    assert more.grid.skipped == 2 and more.grid.done == 2 and more.summary["total"] == 30


def test_run_study_refuses_another_settings_class(tmp_path):
    with pytest.raises(ParameterError, match="SquareSettings"):
        run_study(SQUARES, object(), tmp_path)
