"""The one spec grammar for contexts (and anything else written as a call).

Grammar (whitespace is ignored between tokens)::

    spec     := term
    term     := [NUMBER '*'] NAME [ '(' [arg (',' arg)*] ')' ]
    arg      := NAME '=' value | term
    value    := NUMBER | 'true' | 'false' | 'none' | QUOTED | term | BARE

``BARE`` is a run of characters other than ``,()=*`` and whitespace, so paths such as
``graph(edges=data/edges.csv)`` need no quotes; ``QUOTED`` is a single- or double-quoted string
for anything else. A leading ``NUMBER '*'`` weights a term, as in ``mix(0.7*knn(k=5),0.3*label)``.

Examples: ``knn(k=30)``, ``rbf_mask(gamma=0.5,p=0.2,masks=50)``, ``conv(scarf(p=0.3),label)``.

Terms nest at most :data:`MAX_DEPTH` levels deep; a deeper spec is refused with a
:class:`SpecError` before anything is built. The parser reads each character a bounded number of
times, so parsing costs time linear in the length of the spec, and the depth limit bounds what a
nested spec costs to build (each level of a mixture re-derives the canonical spec of the levels
below it, and stacks their operators).
:func:`parse_spec` returns a :class:`Call` tree and :func:`format_spec` writes its canonical
string, so ``parse_spec(format_spec(c)) == c``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from .exceptions import SpecError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-.]*")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_BARE = re.compile(r"[^,()=*\s'\"]+")

MAX_DEPTH = 32
"""Deepest nesting of terms a spec may have (``conv(conv(...))`` counts one level per term)."""
_SHOWN = 72  # characters of a long spec shown around the position of a parse error


@dataclass(frozen=True)
class Call:
    """A parsed term: ``name(args..., key=value...)`` with an optional weight."""

    name: str
    args: tuple[Call, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()
    weight: float | None = None
    has_parens: bool = field(default=False, compare=False)

    @property
    def params(self) -> dict[str, Any]:
        """Keyword arguments as a dict."""
        return dict(self.kwargs)

    def __str__(self) -> str:
        return format_spec(self)


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0
        self.depth = 0

    def error(self, message: str) -> SpecError:
        text, pos = self.text, self.pos
        if len(text) > _SHOWN:  # a window around the position, so a huge spec stays readable
            lo = max(0, min(pos - _SHOWN // 2, len(text) - _SHOWN))
            text = ("…" if lo else "") + text[lo:lo + _SHOWN] + ("…" if lo + _SHOWN < len(text)
                                                                  else "")
            pos = pos - lo + (1 if lo else 0)
        pointer = " " * pos + "^"
        return SpecError(f"cannot parse spec {text!r}: {message} at position {self.pos}\n"
                         f"  {text}\n  {pointer}")

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        self.skip()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, ch: str) -> None:
        if self.peek() != ch:
            found = self.peek() or "end of text"
            raise self.error(f"expected {ch!r}, found {found!r}")
        self.pos += 1

    def match(self, pattern: re.Pattern) -> str | None:
        self.skip()
        m = pattern.match(self.text, self.pos)
        if m and m.end() > self.pos:
            self.pos = m.end()
            return m.group(0)
        return None

    def term(self) -> Call:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"the spec nests terms more than {MAX_DEPTH} levels deep")
        try:
            return self._term()
        finally:
            self.depth -= 1

    def _term(self) -> Call:
        weight = None
        start = self.pos
        number = self.match(_NUMBER)
        if number is not None:
            if self.peek() == "*":
                self.pos += 1
                weight = float(number)
            else:
                self.pos = start
                raise self.error("expected a context name, found a number")
        name = self.match(_NAME)
        if name is None:
            found = self.peek() or "end of text"
            raise self.error(f"expected a name, found {found!r}")
        args: list[Call] = []
        kwargs: dict[str, Any] = {}
        has_parens = False
        if self.peek() == "(":
            has_parens = True
            self.pos += 1
            if self.peek() != ")":
                while True:
                    self.argument(args, kwargs)
                    if self.peek() == ",":
                        self.pos += 1
                        continue
                    break
            self.expect(")")
        return Call(name.lower(), tuple(args), tuple(kwargs.items()), weight, has_parens)

    def argument(self, args: list[Call], kwargs: dict[str, Any]) -> None:
        start = self.pos
        name = self.match(_NAME)
        if name is not None and self.peek() == "=":
            self.pos += 1
            key = name.lower()
            if key in kwargs:
                raise self.error(f"parameter {key!r} given twice")
            kwargs[key] = self.value()
            return
        self.pos = start
        if kwargs:
            raise self.error("a positional argument follows a keyword argument")
        args.append(self.term())

    def value(self) -> Any:
        ch = self.peek()
        if ch in ("'", '"'):
            end = self.text.find(ch, self.pos + 1)
            if end < 0:
                raise self.error("unterminated quoted string")
            out = self.text[self.pos + 1 : end]
            self.pos = end + 1
            return out
        start = self.pos
        number = self.match(_NUMBER)
        if number is not None and self.peek() in (",", ")", ""):
            return int(number) if re.fullmatch(r"[+-]?\d+", number) else float(number)
        self.pos = start
        name = self.match(_NAME)
        if name is not None and self.peek() == "(":
            self.pos = start
            return self.term()
        self.pos = start
        bare = self.match(_BARE)
        if bare is None:
            found = self.peek() or "end of text"
            raise self.error(f"expected a value, found {found!r}")
        low = bare.lower()
        if low in ("true", "yes"):
            return True
        if low in ("false", "no"):
            return False
        if low in ("none", "null"):
            return None
        return bare


def parse_spec(text: str) -> Call:
    """Parse a spec string into a :class:`Call` tree; raise :class:`SpecError` with a pointer."""
    if not isinstance(text, str):
        raise SpecError(f"a spec must be a string, got {type(text).__name__}")
    if not text.strip():
        raise SpecError("empty spec")
    parser = _Parser(text)
    call = parser.term()
    if parser.peek():
        raise parser.error(f"unexpected {parser.peek()!r} after the spec")
    return call


def _format_value(value: Any) -> str:
    if isinstance(value, Call):
        return format_spec(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, float):
        if not math.isfinite(value):
            return repr(value)
        return repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    text = str(value)
    if _BARE.fullmatch(text) and text.lower() not in ("true", "false", "none", "null", "yes", "no"):
        return text
    return '"' + text + '"' if '"' not in text else "'" + text + "'"


def format_spec(call: Call) -> str:
    """Canonical string of a :class:`Call` (round-trips through :func:`parse_spec`)."""
    parts = [format_spec(a) for a in call.args]
    parts += [f"{k}={_format_value(v)}" for k, v in call.kwargs]
    body = call.name + (f"({','.join(parts)})" if parts else "")
    if call.weight is not None:
        body = f"{_format_value(float(call.weight))}*{body}"
    return body
