"""Property-based fuzzing of the command line.

Hostile tables written to CSV (unicode column names, NaN, ±inf, mixed types, huge and tiny
magnitudes, single rows...) and random context specs and arguments go through
``contextures.cli.app.main``. For every input: no traceback on stderr, never the internal-error
exit code 70, and a non-zero exit always comes with a message; a zero exit prints the result.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from _fuzz_lib import FUZZ, context_specs, frames
from contextures.cli.app import EXIT_INTERNAL, main

pytestmark = pytest.mark.filterwarnings("ignore")
CLI_FUZZ = FUZZ.__class__(FUZZ, suppress_health_check=[*FUZZ.suppress_health_check,
                                                       HealthCheck.function_scoped_fixture])
SMALL = "abalone:max_rows=80"


def run(capsys, argv: list[str]) -> tuple[int, str, str]:
    """Run the CLI in-process; check the rules that hold for every input."""
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    assert code != EXIT_INTERNAL, f"internal error for {argv}: {err}"
    assert "Traceback" not in err and "Traceback" not in out, err
    if code != 0:
        assert err.strip(), f"exit {code} without a message for {argv}"
    return code, out, err


@CLI_FUZZ
@given(frame=frames(max_rows=24, max_cols=4), target_pick=st.integers(0, 50),
       use_target=st.booleans())
def test_hostile_csv_tables_through_the_cli(capsys, frame, target_pick, use_target):
    target = frame.columns[target_pick % frame.shape[1]]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a dir; $(touch pwned)" / "tablé `x`.csv"
        path.parent.mkdir()
        frame.to_csv(path, index=False)
        data = f"csv:{path}:{target}" if use_target else f"csv:{path}"
        code, out, _ = run(capsys, ["datasets", "show", data])
        if code == 0:
            assert "rows" in out
        code, out, _ = run(capsys, ["spectrum", "--data", data, "-c", "knn(k=2)", "-d", "1",
                                    "--all-rows", "--json", str(Path(tmp) / "out s.json")])
        if code == 0:
            payload = json.loads((Path(tmp) / "out s.json").read_text())
            assert 0.0 <= payload["singular_values"][0] <= 1.0 + 1e-9
        run(capsys, ["evaluate", "--data", data, "-c", "rbf(gamma=1)", "-d", "4"])
        assert not (Path(tmp) / "pwned").exists() and not Path("pwned").exists()


@CLI_FUZZ
@given(spec=context_specs(), d=st.integers(1, 3))
def test_random_context_specs_through_spectrum(capsys, spec, d):
    code, out, _ = run(capsys, ["spectrum", "--data", SMALL, "-c", spec, "-d", str(d)])
    if code == 0:
        assert "s_i" in out


HOSTILE_TEXT = st.one_of(
    st.sampled_from(["", " ", "-1", "0", "1e9", "nan", "inf", "abc", "--", "-d", "1.5", "2**64",
                     "99999999999999999999", "$(id)", "; rm -rf /", "../../etc/passwd", "\x00",
                     "é", "😀", "knn(k=", "8G", "-8G", "0.0001"]),
    st.text(max_size=12).filter(lambda s: "\x00" not in s),
)
OPTIONS = ["-d", "--solver", "--memory-budget", "--split-seed", "--tol", "--seed", "-c", "--data"]


@CLI_FUZZ
@given(option=st.sampled_from(OPTIONS), value=HOSTILE_TEXT)
def test_random_option_values_for_spectrum(capsys, option, value):
    argv = {"--data": SMALL, "-c": "knn(k=3)", "-d": "2"}
    argv[option] = value
    flat = ["spectrum"] + [x for kv in argv.items() for x in kv]
    run(capsys, flat)


@CLI_FUZZ
@given(command=st.sampled_from([["evaluate", "--data", SMALL, "-c", "knn(k=3)"],
                                ["run", "--data", SMALL, "-c", "knn(k=3)", "--d0", "4"],
                                ["train", "--data", SMALL, "--context", "knn(k=3)",
                                 "--objective", "kise", "-d", "1", "--epochs", "1",
                                 "--hidden", "8", "--depth", "1"],
                                ["datasets", "show"], ["datasets", "list", "--suite"],
                                ["bench", "correlation", "--data", SMALL, "--contexts", "2",
                                 "--d0"]]),
       extra=st.lists(HOSTILE_TEXT, min_size=1, max_size=2))
def test_garbage_arguments_never_crash(capsys, command, extra):
    with tempfile.TemporaryDirectory() as tmp:
        # every command that writes gets its own directory; garbage lands after the options
        out = ["--out", str(Path(tmp) / "o ut")] if command[0] in ("run", "train") else []
        if command[0] == "bench":  # garbage for --d0 (which needs an integer ≥ 2) and beyond
            command = [*command[:-1], "--out", str(Path(tmp) / "b"), "--d0"]
            extra = [e for e in extra if not e.strip().isdigit()] or ["x"]
        run(capsys, [*command, *out, *extra])
