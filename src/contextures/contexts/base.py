"""The base class of every context and the registry that maps spec names to classes.

A context is the conditional P⁺(a | x). A :class:`Context` is a scikit-learn style estimator:
its constructor stores parameters only, :meth:`Context.fit` validates them and stores what the
finite-sample context needs (the training sample, neighbour structures, labels), and then

- :meth:`Context.operator` returns the :class:`~contextures.contexts.operator.ContextOperator`
  (Q = D_π^{1/2} P D_c^{-1/2}), exact where the context allows, Monte-Carlo otherwise;
- :meth:`Context.transition` returns the rows P⁺(· | x) of new points over the fitted context
  values (for the out-of-sample extension of the spectral engine);
- :meth:`Context.sample` draws a ~ P⁺(· | x_i) for training rows i (for neural training).

Contexts are data: :func:`make_context` builds one from a spec string such as ``knn(k=30)`` and
:meth:`Context.spec` writes the canonical string back.
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator

from ..exceptions import ParameterError, SpecError
from ..spec import Call, format_spec, parse_spec

_REGISTRY: dict[str, type[Context]] = {}


def register_context(cls: type[Context]) -> type[Context]:
    """Class decorator: make ``cls`` constructible from specs named ``cls.spec_name``."""
    for name in (cls.spec_name, *cls.aliases):
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise RuntimeError(f"context name {name!r} registered twice")
        _REGISTRY[name] = cls
    return cls


def registered_contexts() -> dict[str, type[Context]]:
    """Spec name → context class, for every registered context."""
    _load_builtin()
    return dict(_REGISTRY)


def _load_builtin() -> None:
    # Importing the package registers the built-in contexts.
    from .. import contexts  # noqa: F401


class Context(BaseEstimator):
    """Base class: a context P⁺(a | x), fitted on a sample.

    Class attributes
    ----------------
    spec_name : the name in the spec grammar.
    needs_labels : whether ``fit`` requires ``y``.
    access : ``"kernel"`` when the finite operator is exact, ``"sample"`` when it is a Monte-Carlo
        estimate (the context can only be sampled, with a computable density).
    strength_param : the parameter that sets the association strength (``k``, ``gamma``, ``p``…);
        the canonical spec always writes it, so ``knn(k=30)`` stays ``knn(k=30)``.
    value_space : ``"input"`` when context values live in the input space (a ~ P⁺(·|x) is a
        point like x: augmentations, neighbours), ``"label"`` for labels, ``"other"`` otherwise.
    """

    spec_name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    needs_labels: ClassVar[bool] = False
    access: ClassVar[str] = "kernel"
    value_space: ClassVar[str] = "input"
    strength_param: ClassVar[str | None] = None

    # --- the spec grammar -----------------------------------------------------------------------
    @classmethod
    def from_call(cls, call: Call) -> Context:
        """Build from a parsed spec; unknown or positional parameters are a :class:`SpecError`."""
        params = inspect.signature(cls.__init__).parameters
        allowed = [p for p in params if p != "self"]
        if call.args:
            raise SpecError(f"{call.name}: takes keyword parameters only ({', '.join(allowed)})")
        kwargs = call.params
        unknown = sorted(set(kwargs) - set(allowed))
        if unknown:
            raise SpecError(
                f"{call.name}: unknown parameter(s) {', '.join(unknown)}"
                f"{did_you_mean(unknown[0], allowed)}; it takes {', '.join(allowed) or 'no parameters'}"
            )
        return cls(**kwargs)

    def spec(self) -> str:
        """Canonical spec string: the name, the strength parameter (``strength_param``: k, γ, p…)
        always, and every other parameter that differs from its default."""
        return format_spec(self.spec_call())

    def spec_call(self) -> Call:
        """The canonical spec as a parsed :class:`~contextures.spec.Call` (what :meth:`spec`
        prints). Nested contexts contribute their own calls, so building the spec of a nested
        context reads each level once (work linear in the spec's length)."""
        sig = inspect.signature(type(self).__init__).parameters
        kwargs = []
        for name, p in sig.items():
            if name == "self":
                continue
            value = getattr(self, name)
            if isinstance(value, Context):
                value = value.spec_call()
            elif (name != self.strength_param and p.default is not inspect.Parameter.empty
                  and _same(value, p.default)):
                continue
            kwargs.append((name, value))
        return Call(self.spec_name, (), tuple(kwargs))

    def __str__(self) -> str:
        return self.spec()

    # --- the finite-sample context --------------------------------------------------------------
    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> Context:  # pragma: no cover
        raise NotImplementedError

    def operator(self, memory_budget: int | None = None):  # pragma: no cover - abstract
        """The :class:`ContextOperator` of the fitted sample."""
        raise NotImplementedError

    def transition(self, X_new: np.ndarray):
        """Rows P⁺(· | x) for new points over the fitted context values (n_new × m)."""
        raise ParameterError(
            f"{self.spec()}: this context has no transition rows for new points, so the "
            "out-of-sample extension is not defined for it"
        )

    def sample(self, indices: np.ndarray, random_state: Any = None) -> np.ndarray:
        """Draw one a ~ P⁺(· | x_i) for each training row i in ``indices``."""
        raise ParameterError(f"{self.spec()}: this context cannot be sampled")

    def sample_indices(self, indices: np.ndarray, random_state: Any = None) -> np.ndarray:
        """For contexts over a finite value set (training points, classes): the column of P of one
        a ~ P⁺(· | x_i) for each training row i in ``indices``."""
        raise ParameterError(f"{self.spec()}: the values of this context are not a finite set "
                             "of columns; use sample()")


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b) or (a is None and b is None)
    except (TypeError, ValueError):
        return False


def did_you_mean(name: str, known) -> str:
    """`` (did you mean 'knn'?)`` for the known names closest to a misspelt one (difflib), or ''."""
    lowered = {k.lower(): k for k in known}
    close = difflib.get_close_matches(str(name).lower(), list(lowered), n=3, cutoff=0.6)
    if not close:
        return ""
    return f" (did you mean {' or '.join(repr(lowered[c]) for c in close)}?)"


def make_context(spec: str | Call | Context) -> Context:
    """A context from a spec string, a parsed :class:`Call` or an existing context (returned as is)."""
    if isinstance(spec, Context):
        return spec
    call = parse_spec(spec) if isinstance(spec, str) else spec
    if not isinstance(call, Call):
        raise SpecError(f"a context spec must be a string, got {type(spec).__name__}")
    registry = registered_contexts()
    cls = registry.get(call.name)
    if cls is None:
        known = ", ".join(sorted(registry))
        raise SpecError(f"unknown context {call.name!r}{did_you_mean(call.name, registry)}; "
                        f"known contexts: {known}")
    if call.weight is not None:
        raise SpecError(f"a weight ({call.weight}*) is only allowed inside mix(...)")
    return cls.from_call(call)
