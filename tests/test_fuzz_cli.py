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
        run(capsys, ["evaluate", "--data", data, "-c", "rbf(gamma=1)", "--d0", "4"])
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


# --- hostile conditions: every one ends in a documented exit code and one line -------------------

WINE = ["--data", "sklearn:wine", "-d", "4"]


def one_line_error(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.startswith("contextures: error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("option", ["--split-seed", "--seed"])
def test_negative_seeds_are_refused_by_the_cli(capsys, option):
    code, _, err = run(capsys, ["spectrum", *WINE, "-c", "knn(k=10)", option, "-1", "-q"])
    assert code == 2
    assert "non-negative" in one_line_error(err)


def test_negative_seeds_are_refused_by_the_api():
    from contextures.datasets import prepare
    from contextures.exceptions import ParameterError
    from contextures.spectral import Contexture

    with pytest.raises(ParameterError, match="non-negative"):
        prepare("sklearn:wine", split_seed=-1)
    X = prepare("sklearn:wine").X_pre
    with pytest.raises(ParameterError, match="non-negative"):
        Contexture("knn(k=5)", n_components=2, random_state=-1).fit(X)


@pytest.mark.parametrize("target", ["/dev/full", "/proc/contextures-out.json", "DIR", "UNDER_FILE"])
def test_unwritable_json_targets_exit_12(capsys, tmp_path, target):
    if target == "DIR":
        target = str(tmp_path)
    elif target == "UNDER_FILE":
        (tmp_path / "f").write_text("x")
        target = str(tmp_path / "f" / "out.json")
    code, _, err = run(capsys, ["spectrum", *WINE, "-c", "knn(k=10)", "--json", target, "-q"])
    assert code == 12
    assert "cannot write" in one_line_error(err)


@pytest.mark.parametrize("errno_name", ["ENOSPC", "EROFS", "EDQUOT"])
def test_full_or_read_only_file_system_keeps_the_old_file(capsys, tmp_path, monkeypatch,
                                                           errno_name):
    import errno
    import os

    target = tmp_path / "s.json"
    code, _, _ = run(capsys, ["spectrum", *WINE, "-c", "knn(k=10)", "--json", str(target), "-q"])
    assert code == 0
    before = target.read_bytes()

    def failing_fsync(fd):
        raise OSError(getattr(errno, errno_name), os.strerror(getattr(errno, errno_name)))

    monkeypatch.setattr(os, "fsync", failing_fsync)
    code, _, err = run(capsys, ["spectrum", *WINE, "-c", "knn(k=5)", "--json", str(target), "-q"])
    assert code == 12
    assert "cannot write" in one_line_error(err)
    assert target.read_bytes() == before            # the valid earlier file is untouched
    assert json.loads(before)["context"] == "knn(k=10)"
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]   # no temporary file left


def test_json_dash_writes_pure_json_to_stdout(capsys):
    for argv in (["spectrum", *WINE, "-c", "knn(k=10)", "-q", "--json", "-"],
                 ["spectrum", *WINE, "-c", "concat(knn(k=3),label)", "-q", "--json", "-"]):
        code, out, err = run(capsys, argv)
        assert code == 0
        payload = json.loads(out)
        assert len(payload["singular_values"]) >= 4
        assert "s_i" in err                          # the human table went to stderr


def _nested(depth: int) -> str:
    """mix(0.5*mix(0.5*…label…,0.5*label),0.5*label), ``depth`` terms deep."""
    return "mix(0.5*" * (depth - 1) + "label" + ",0.5*label)" * (depth - 1)


@pytest.mark.parametrize("depth", [33, 400, 2000, 100_000])
def test_deep_specs_are_refused_at_once(capsys, depth):
    from contextures.spec import MAX_DEPTH

    assert depth > MAX_DEPTH
    code, _, err = run(capsys, ["spectrum", *WINE, "-c", _nested(depth), "-q"])
    assert code == 2
    assert f"more than {MAX_DEPTH} levels" in one_line_error(err)
    assert len(err) < 1000                   # a window of the spec, not all of it


def test_spec_parse_and_build_work_is_linear_in_length(monkeypatch):
    """The work is counted, not timed: the characters the parser reads while a spec is parsed,
    built and printed grow in proportion to the spec's length, wide or deep."""
    import contextures.contexts.base as base
    import contextures.contexts.mixtures as mixtures
    from contextures import spec as spec_module
    from contextures.contexts import make_context

    read = [0]
    original = spec_module.parse_spec

    def counting(text, *args, **kwargs):
        read[0] += len(text) if isinstance(text, str) else 0
        return original(text, *args, **kwargs)

    for module in (spec_module, base, mixtures):
        if hasattr(module, "parse_spec"):
            monkeypatch.setattr(module, "parse_spec", counting)

    def work(text: str) -> float:
        read[0] = 0
        make_context(counting(text)).spec()
        return read[0] / len(text)

    wide = [work("mix(" + ",".join(["knn(k=3)"] * n) + ")") for n in (50, 400)]
    deep = [work(_nested(depth)) for depth in (8, 16, 32)]
    assert max(wide) <= 4 and max(deep) <= 4, (wide, deep)


def test_a_huge_noise_sigma_is_refused(capsys):
    code, _, err = run(capsys, ["spectrum", *WINE, "-c", "noise(sigma=1e308)", "-q"])
    assert code == 2
    assert "sigma" in one_line_error(err)


def test_train_into_an_existing_file_is_refused_before_training(capsys, tmp_path):
    import time

    target = tmp_path / "model"
    target.write_text("not a directory")
    start = time.perf_counter()
    code, _, err = run(capsys, ["train", "--data", "sklearn:wine", "--context", "knn(k=5)",
                                "--objective", "kise", "-d", "2", "--epochs", "100000",
                                "--out", str(target), "-q"])
    assert code == 12
    assert "not a directory" in one_line_error(err)
    assert time.perf_counter() - start < 10
    assert target.read_text() == "not a directory"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from contextures.cli.app import main as cli

    out = tmp_path_factory.mktemp("model") / "m"
    assert cli(["train", "--data", "sklearn:wine", "--context", "knn(k=5)", "--objective",
                "kise", "-d", "2", "--epochs", "2", "--hidden", "8", "--depth", "1", "--out",
                str(out), "-q"]) == 0
    return out


def _copy_model(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_a_model_config_with_a_deep_context_is_refused(capsys, tmp_path, tiny_model):
    model = _copy_model(tiny_model, tmp_path / "m")
    cfg = json.loads((model / "config.json").read_text())
    cfg["params"]["context"] = "conv(" * 2000 + "label" + ")" * 2000
    (model / "config.json").write_text(json.dumps(cfg))
    code, _, err = run(capsys, ["compare", "--data", "sklearn:wine", "--context", "knn(k=5)",
                                "-d", "2", "--model", str(model)])
    assert code == 6
    assert "levels deep" in one_line_error(err)


def test_a_model_config_with_a_huge_thread_count_still_loads(capsys, tmp_path, tiny_model):
    model = _copy_model(tiny_model, tmp_path / "m")
    cfg = json.loads((model / "config.json").read_text())
    cfg["params"]["n_threads"] = 1_000_000_000
    (model / "config.json").write_text(json.dumps(cfg))
    code, out, _ = run(capsys, ["compare", "--data", "sklearn:wine", "--context", "knn(k=5)",
                                "-d", "2", "--model", str(model), "--json", "-"])
    assert code == 0
    assert 0.0 <= json.loads(out)["cca_r2"] <= 1.0 + 1e-9


@pytest.mark.parametrize("threads", ["1000000000", "0", "-2", "100000"])
def test_huge_or_invalid_thread_counts_are_refused(capsys, tmp_path, threads):
    code, _, err = run(capsys, ["train", "--data", "sklearn:wine", "--context", "knn(k=5)",
                                "--objective", "kise", "-d", "2", "--epochs", "1",
                                "--threads", threads, "--out", str(tmp_path / "m"), "-q"])
    assert code == 2
    assert "cores" in one_line_error(err)


def _hostile_weights(model: Path, rows: int, cols: int) -> None:
    """A safetensors header claiming one rows × cols float64 tensor; the file is sparse (holes),
    so the claim costs no disk, and the config records the claimed shape."""
    import struct

    size = rows * cols * 8
    header = json.dumps({"encoder.x": {"dtype": "F64", "shape": [rows, cols],
                                       "data_offsets": [0, size]}}).encode()
    header += b" " * (-len(header) % 8)
    path = model / "model.safetensors"
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(header)) + header)
        fh.truncate(8 + len(header) + size)
    cfg = json.loads((model / "config.json").read_text())
    cfg["tensors"] = {"encoder.x": [rows, cols]}
    (model / "config.json").write_text(json.dumps(cfg))


def test_a_hostile_model_header_is_refused_before_reading(capsys, tmp_path, tiny_model,
                                                          monkeypatch):
    import time

    model = _copy_model(tiny_model, tmp_path / "m")
    _hostile_weights(model, 20_000, 16_384)            # 2.6 GB claimed
    monkeypatch.setenv("CONTEXTURES_MEMORY_BUDGET", "256M")
    start = time.perf_counter()
    code, _, err = run(capsys, ["compare", "--data", "sklearn:wine", "--context", "knn(k=5)",
                                "-d", "2", "--model", str(model)])
    assert code == 5
    assert "tensors" in one_line_error(err)
    assert time.perf_counter() - start < 10           # refused before hashing 2.6 GB


@CLI_FUZZ
@given(rows=st.integers(1, 1 << 20), cols=st.integers(1, 1 << 16))
def test_fuzzed_model_headers_are_refused_with_a_model_or_budget_error(capsys, tiny_model,
                                                                       rows, cols):
    with tempfile.TemporaryDirectory() as tmp:
        model = _copy_model(tiny_model, Path(tmp) / "m")
        _hostile_weights(model, rows, cols)
        code, _, err = run(capsys, ["compare", "--data", "sklearn:wine", "--context",
                                    "knn(k=5)", "-d", "2", "--model", str(model)])
        assert code in (5, 6), err


def test_a_study_in_which_every_dataset_failed_exits_3(capsys, tmp_path):
    code, _, err = run(capsys, ["bench", "correlation", "--data", "csv:/nonexistent.csv:y",
                                "--contexts", "1", "--d0", "8", "--out", str(tmp_path / "o"),
                                "-q"])
    assert code == 3
    assert "no result" in one_line_error(err)
    assert (tmp_path / "o" / "summary.json").exists()      # the report says which failed, and why


@pytest.mark.parametrize("command", [
    ["spectrum", *WINE, "-c", "knn(k=5)"],
    ["bench", "correlation", "--data", "sklearn:wine", "--contexts", "1", "--d0", "8", "--out",
     "OUT"],
    ["datasets", "show", "sklearn:wine"],
    ["evaluate", "--data", "sklearn:wine", "-c", "knn(k=5)"],
])
@pytest.mark.parametrize("variable, value", [("CONTEXTURES_MEMORY_BUDGET", "lots"),
                                             ("CONTEXTURES_SOLVER_THREADS", "1000000000")])
def test_a_malformed_environment_is_refused_up_front(capsys, tmp_path, monkeypatch, command,
                                                     variable, value):
    monkeypatch.setenv(variable, value)
    command = [str(tmp_path / "o") if part == "OUT" else part for part in command]
    code, _, err = run(capsys, command)
    assert code == 2
    assert variable in one_line_error(err)
    assert not (tmp_path / "o").exists()


# --- budgets: every allocation proportional to draws, masks or tensor sizes is checked first -----

def _peak_rss(argv: list[str], env_extra: dict | None = None) -> tuple[int, int, str]:
    """(exit code, peak RSS in bytes, stderr) of the command line run under /usr/bin/time -v."""
    import os
    import re
    import shutil
    import subprocess
    import sys

    if shutil.which("/usr/bin/time") is None:
        pytest.skip("/usr/bin/time is not installed")
    env = {**os.environ, **(env_extra or {})}
    proc = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-m", "contextures", *argv],
                          capture_output=True, text=True, env=env, timeout=600)
    peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)[1]) * 1024
    return proc.returncode, peak, proc.stderr


BUDGET = 256 * 1024**2
BUDGET_CASES = [
    ("scarf(p=0.3,draws=100000)", 5), ("noise(sigma=0.5,draws=100000)", 5),
    ("cutmix(p=0.3,draws=100000)", 5), ("knn_mask(k=10,masks=1000000000)", 5),
    ("scarf(p=0.3,draws=500)", 0), ("noise(sigma=0.5,draws=500)", 0),
    ("cutmix(p=0.3,draws=500)", 0),
]


@pytest.mark.slow
@pytest.mark.parametrize("context, expected", BUDGET_CASES)
def test_budget_cases_peak_under_four_times_the_budget(context, expected):
    code, peak, err = _peak_rss(["spectrum", *WINE, "-c", context, "--memory-budget", "256M",
                                 "-q"])
    assert code == expected, err
    assert peak < 4 * BUDGET, f"{context}: peak RSS {peak / 2**20:.0f} MiB"


@pytest.mark.slow
def test_a_hostile_model_header_peaks_under_four_times_the_budget(tmp_path, tiny_model):
    model = _copy_model(tiny_model, tmp_path / "m")
    _hostile_weights(model, 20_000, 16_384)
    code, peak, err = _peak_rss(["compare", "--data", "sklearn:wine", "--context", "knn(k=5)",
                                 "-d", "2", "--model", str(model)],
                                {"CONTEXTURES_MEMORY_BUDGET": "256M"})
    assert code == 5, err
    assert peak < 4 * BUDGET


def test_knn_mask_with_a_billion_masks_is_refused_at_once(capsys):
    import time

    start = time.perf_counter()
    code, _, err = run(capsys, ["spectrum", *WINE, "-c", "knn_mask(k=10,masks=1000000000)",
                                "-q"])
    assert code == 5
    assert "masks" in one_line_error(err)
    assert time.perf_counter() - start < 10


def test_knn_mask_cost_is_checked_against_the_time_guard(capsys):
    code, _, err = run(capsys, ["spectrum", *WINE, "-c", "knn_mask(k=10,masks=100000)",
                                "--max-time", "1s", "-q"])
    assert code == 11
    assert "masks" in one_line_error(err)


@FUZZ.__class__(FUZZ, max_examples=min(FUZZ.max_examples, 15))
@given(name=st.sampled_from(["scarf(p=0.3", "noise(sigma=0.5", "cutmix(p=0.3"]),
       draws=st.one_of(st.integers(2, 40), st.integers(10**5, 10**9)))
def test_fuzzed_monte_carlo_draws_fit_the_budget_or_are_refused_up_front(name, draws):
    """Every draw count either fits a 64 MiB budget or is refused with MemoryBudgetError before
    the draws are made (a refusal allocates almost nothing: its traced peak stays far below the
    budget)."""
    import tracemalloc

    import numpy as np

    from contextures.exceptions import MemoryBudgetError
    from contextures.spectral import Contexture

    X = np.random.default_rng(0).normal(size=(30, 3))
    traced = draws > 10**6          # a refusal is expected: trace what it allocates
    if traced:
        tracemalloc.start()
    try:
        model = Contexture(f"{name},draws={draws})", n_components=2, memory_budget="64M",
                           random_state=0).fit(X)
    except MemoryBudgetError as exc:
        assert "budget" in str(exc)
        if traced:
            assert tracemalloc.get_traced_memory()[1] < 16 * 2**20
        return
    finally:
        if traced:
            tracemalloc.stop()
    assert np.isfinite(model.singular_values_).all()


# --- smaller items ---------------------------------------------------------------------------

def test_a_duplicated_target_column_is_refused_naming_it(capsys, tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("a,y,y\n1,2,3\n4,5,6\n7,8,9\n1,3,3\n2,2,2\n")
    for command in (["datasets", "show", f"csv:{path}:y"],
                    ["spectrum", "--data", f"csv:{path}:y", "-d", "1", "-c", "knn(k=1)", "-q"]):
        code, _, err = run(capsys, command)
        assert code == 3
        assert "'y' appears 2 times" in one_line_error(err)
    code, out, _ = run(capsys, ["datasets", "show", f"csv:{path}:a"])   # another target is fine
    assert code == 0


@pytest.mark.parametrize("edges, reason", [("/dev/zero", "not a regular file"),
                                           ("DIR", "is a directory"),
                                           ("/nonexistent-edges.csv", "not found")])
def test_graph_edges_that_are_not_a_file_name_the_real_problem(capsys, tmp_path, edges, reason):
    edges = str(tmp_path) if edges == "DIR" else edges
    code, _, err = run(capsys, ["spectrum", *WINE, "-c", f"graph(edges={edges})", "-q"])
    assert code == 3
    assert reason in one_line_error(err)


@pytest.mark.parametrize("argv, kept", [
    (["spectrum", *WINE, "-c", "knn(k=5)", "-q"], False),
    (["train", "--data", "sklearn:wine", "--context", "knn(k=5)", "--objective", "kise",
      "-d", "2", "--out", "OUT", "-q"], False),
    (["run", "--data", "sklearn:wine", "--out", "OUT", "-q"], True),
    (["bench", "correlation", "--data", "sklearn:wine", "--out", "OUT", "-q"], True),
])
def test_ctrl_c_claims_kept_work_only_where_it_is_kept(capsys, tmp_path, monkeypatch, argv, kept):
    import contextures.cli.app as cli_app

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_app, "app", interrupted)
    argv = [str(tmp_path / "o") if a == "OUT" else a for a in argv]
    code, _, err = run(capsys, argv)
    assert code == 130
    line = one_line_error(err)
    assert ("finished work is kept" in line) == kept
    assert ("nothing was written" in line) == (not kept)


@FUZZ
@given(depth=st.integers(1, 3 * 32))
def test_fuzzed_spec_depths_build_or_are_refused_with_a_spec_error(depth):
    from contextures.contexts import make_context
    from contextures.exceptions import SpecError
    from contextures.spec import MAX_DEPTH

    text = _nested(depth)
    if depth <= MAX_DEPTH:
        built = make_context(text)
        assert make_context(built.spec()).spec() == built.spec()
    else:
        with pytest.raises(SpecError, match=f"more than {MAX_DEPTH} levels"):
            make_context(text)


@FUZZ
@given(seed=st.integers(-(2 ** 70), 2 ** 70))
def test_fuzzed_seeds_split_or_are_refused_with_a_parameter_error(seed):
    from contextures.datasets import prepare
    from contextures.exceptions import ParameterError

    try:
        data = prepare(SMALL, split_seed=seed)
    except ParameterError as exc:
        assert seed < 0 or seed >= 2 ** 32, exc     # refused: negative, or beyond a 32-bit seed
    else:
        assert seed >= 0 and data.X_pre.shape[0] > 0


@FUZZ
@given(threads=st.integers(-(2 ** 40), 2 ** 40))
def test_fuzzed_thread_counts_are_used_or_refused_with_a_parameter_error(threads):
    from contextures._resources import available_cores, check_threads
    from contextures.exceptions import ParameterError

    try:
        value = check_threads(threads, "threads")
    except ParameterError:
        assert threads != -1 and not 1 <= threads <= available_cores()
    else:
        assert value == threads and (threads == -1 or 1 <= threads <= available_cores())
