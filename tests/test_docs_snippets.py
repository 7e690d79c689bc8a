"""The Python snippets of docs/guide.md run, and print what the guide says they print.

Rules (documented in the guide's last section):

- every ```python block is executed, in document order, in one shared namespace, in a temporary
  working directory that is also on ``sys.path``;
- a ```text block that directly follows a Python block is that block's expected output: the
  words must match exactly, the numbers within 5 % (relative) or 0.02 (absolute);
- a Python block may start with one marker comment:
  ``# doc-test: skip (REASON)`` (not executed), ``# doc-test: file NAME`` (written to NAME in the
  working directory instead of being executed) or ``# doc-test: output varies`` (executed, output
  not compared).

Run ``python tests/test_docs_snippets.py`` to print every block's actual output (to refresh the
guide after a deliberate change).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide.md"
FENCE = re.compile(r"^```([A-Za-z]*)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
MARKER = re.compile(r"^# doc-test:\s*(.*)$")
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
REL_TOL, ABS_TOL = 0.05, 0.02


@dataclass
class Snippet:
    line: int                 # 1-based line of the opening fence
    code: str
    action: str = "run"       # run | skip | file
    argument: str = ""        # the file name, or the reason to skip
    expected: str | None = None


def parse_marker(first_line: str, line: int) -> tuple[str, str, bool]:
    """(action, argument, compare) from a block's first line."""
    m = MARKER.match(first_line.strip())
    if not m:
        return "run", "", True
    body = m.group(1).strip()
    if body.startswith("skip"):
        reason = body[len("skip"):].strip()
        if not re.fullmatch(r"\(.+\)", reason):
            raise ValueError(f"guide line {line}: write '# doc-test: skip (REASON)'")
        return "skip", reason[1:-1], False
    if body.startswith("file "):
        name = body[len("file "):].strip()
        if not re.fullmatch(r"[A-Za-z0-9_./-]+", name) or name.startswith(("/", "..")):
            raise ValueError(f"guide line {line}: bad file name {name!r}")
        return "file", name, False
    if body == "output varies":
        return "run", "", False
    raise ValueError(f"guide line {line}: unknown marker {first_line.strip()!r}")


def load_snippets(text: str) -> list[Snippet]:
    snippets: list[Snippet] = []
    blocks = list(FENCE.finditer(text))
    for i, block in enumerate(blocks):
        if block.group(1) != "python":
            continue
        line = text.count("\n", 0, block.start()) + 1
        code = block.group(2)
        action, argument, compare = parse_marker(code.split("\n", 1)[0], line)
        snippet = Snippet(line, code, action, argument)
        if i + 1 < len(blocks):
            nxt = blocks[i + 1]
            if nxt.group(1) == "text" and not text[block.end():nxt.start()].strip():
                if not compare:
                    raise ValueError(f"guide line {line}: a block with output that is not "
                                     "compared should not be followed by a text block")
                snippet.expected = nxt.group(2)
        snippets.append(snippet)
    return snippets


def tokens(text: str) -> list[str | float]:
    """Words and numbers of a text, whitespace ignored."""
    out: list[str | float] = []
    for word in text.split():
        pos = 0
        for m in NUMBER.finditer(word):
            if m.start() > pos:
                out.append(word[pos:m.start()])
            out.append(float(m.group(0)))
            pos = m.end()
        if pos < len(word):
            out.append(word[pos:])
    return out


def same_output(actual: str, expected: str) -> str | None:
    """None when the outputs agree (module docstring), else a description of the difference."""
    a, e = tokens(actual), tokens(expected)
    if len(a) != len(e):
        return f"{len(a)} tokens printed, {len(e)} expected"
    for got, want in zip(a, e, strict=True):
        if isinstance(want, float) and isinstance(got, float):
            if not math.isclose(got, want, rel_tol=REL_TOL, abs_tol=ABS_TOL):
                return f"number {got!r} printed, {want!r} expected"
        elif got != want:
            return f"{got!r} printed, {want!r} expected"
    return None


def execute(snippets: list[Snippet], workdir: Path, *, check: bool = True,
            show: bool = False) -> None:
    namespace: dict = {"__name__": "guide"}
    old_cwd = os.getcwd()
    sys.path.insert(0, str(workdir))
    os.chdir(workdir)
    try:
        for snippet in snippets:
            if snippet.action == "skip":
                continue
            if snippet.action == "file":
                (workdir / snippet.argument).write_text(snippet.code, encoding="utf-8")
                continue
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                exec(compile(snippet.code, f"{GUIDE.name}:{snippet.line}", "exec"), namespace)
            if show:
                print(f"--- guide line {snippet.line}\n{buffer.getvalue()}", end="")
            if check and snippet.expected is not None:
                problem = same_output(buffer.getvalue(), snippet.expected)
                assert problem is None, (
                    f"the snippet at docs/guide.md line {snippet.line} printed something else "
                    f"({problem}):\n--- printed\n{buffer.getvalue()}--- guide\n{snippet.expected}")
    finally:
        os.chdir(old_cwd)
        sys.path.remove(str(workdir))
        for name in [n for n, m in sys.modules.items()
                     if getattr(m, "__file__", None) and
                     Path(m.__file__).resolve().parent == workdir.resolve()]:
            del sys.modules[name]


# --- tests ----------------------------------------------------------------------------------------
def test_guide_snippets_are_well_formed():
    snippets = load_snippets(GUIDE.read_text(encoding="utf-8"))
    assert len(snippets) >= 10
    assert sum(s.expected is not None for s in snippets) >= 8
    assert any(s.action == "file" for s in snippets)


def test_markers_and_output_comparison():
    text = ("```python\n# doc-test: skip (needs the network)\nimport nothing\n```\n\n"
            "```python\nprint('x', 1.0)\n```\n\n```text\nx 1.01\n```\n")
    first, second = load_snippets(text)
    assert (first.action, first.argument) == ("skip", "needs the network")
    assert second.expected == "x 1.01\n"
    assert same_output("x 1.0\n", "x 1.01") is None
    assert same_output("x 1.5\n", "x 1.01") is not None
    assert same_output("y 1.0\n", "x 1.0") is not None
    with pytest.raises(ValueError, match="unknown marker"):
        load_snippets("```python\n# doc-test: maybe\n```\n")


def test_guide_snippets_run(tmp_path):
    execute(load_snippets(GUIDE.read_text(encoding="utf-8")), tmp_path)


if __name__ == "__main__":  # print every block's actual output
    with tempfile.TemporaryDirectory() as tmp:
        execute(load_snippets(GUIDE.read_text(encoding="utf-8")), Path(tmp), check=False,
                show=True)
