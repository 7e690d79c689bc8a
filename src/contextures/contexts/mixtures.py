"""Mixing contexts (docs/theory.md §7): convolution, convex combination and concatenation.

All three are contexts written in the one spec grammar:

``conv(A,B)``
    The chain x → a₁ ~ A(·|x) → a₂ ~ B(·|a₁). Its transition matrix is the product
    P = P_A · P_B, where P_B holds the rows B(·|a₁) for every value a₁ of A: when A's values are
    the training points (KNN, RBF, masked, graph) P_B is B's own transition matrix on the sample;
    when A's values are Monte-Carlo draws (SCARF, noise, cutmix) P_B = B.transition(draws); when
    B is a label context its rows are the labels of the values of A (the posterior
    P(y | a₁) = Σ_i P_A[i, a₁] π_i 1{y_i = y} / c_{a₁} for draws). A linear-kernel B (regression
    labels, teacher features) is re-whitened under the distribution of A₁, so that T₂ is taken
    under that distribution (docs/theory.md §7) and s_i(T₁T₂) ≤ min(s_i(T₁), s_i(T₂)).
    A context after a label context is undefined (its inputs would be classes): SpecError.

``mix(0.7*A,0.3*B)``
    The convex combination: pick component i with probability w_i, then a ~ P_i(·|x). Its dual
    kernel is Σ w_i k_i, and its transition matrix is the block row [w_1 P_1, …, w_r P_r], so
    Q = [√w_1 Q_1, …, √w_r Q_r] and M = Σ w_i M_i exactly. Weights are non-negative and sum to 1;
    without weights they are equal. ``mix(A,B,weights=minimax,eta=0.03)`` asks for the adaptive
    weights of docs/theory.md §7: they depend on a fitted encoder, so the spectral engine (``Contexture``) or
    neural training resolves them (see ``contextures.spectral.mixing``); :meth:`operator` refuses
    until they are resolved.

``concat(A,B)``
    Concatenation is defined at the representation level: one encoder per component, features
    standardised and concatenated, one probe. It has no operator of its own; ``Contexture``
    concatenates the components' exact eigenfunctions.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone

from ..exceptions import ParameterError, SpecError
from ..spec import Call, format_spec
from ._validation import check_fitted, check_indices, make_rng
from .base import Context, make_context, register_context
from .operator import ContextOperator, MatrixFreeTransition

WEIGHT_TOLERANCE = 1e-6


def _component(value: Any, who: str) -> Context:
    if isinstance(value, Context):
        return value
    if isinstance(value, str | Call):
        return make_context(value)
    raise SpecError(f"{who}: components must be contexts or spec strings, got {value!r}")


def _fit_component(ctx: Context, X: np.ndarray, y: Any) -> Context:
    fitted = clone(ctx)
    fitted.fit(X, y)
    return fitted


def _transition_matrix(op: ContextOperator):
    """The full transition matrix P (n × m, all columns) of a fitted context's operator."""
    P = op.P
    if isinstance(P, MatrixFreeTransition):
        return P.matmat(np.eye(P.shape[1]))
    return P


def _is_sample_valued(ctx: Context, op: ContextOperator) -> bool:
    """Whether the columns of the context's P are the training points themselves."""
    return (ctx.value_space == "input" and not hasattr(ctx, "A_") and not op.features
            and op.P.shape[1] == op.n_samples)


def _matmul(A, B):
    out = A @ B
    if sp.issparse(out):
        out = out.tocsr()
        return out if out.nnz < 0.25 * out.shape[0] * out.shape[1] else out.toarray()
    return np.asarray(out)


def _rewhitened_features(F: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """[1, G] with G the non-constant columns of F centred and whitened under ``weights``."""
    w = weights / weights.sum()
    G = F[:, 1:] - w @ F[:, 1:]
    C = G.T @ (G * w[:, None])
    evals, evecs = np.linalg.eigh(C)
    keep = evals > 1e-12 * max(evals.max(initial=0.0), 1e-300)
    G = G @ (evecs[:, keep] / np.sqrt(evals[keep]))
    return np.hstack([np.ones((F.shape[0], 1)), G])


@register_context
class ConvolutionContext(Context):
    """conv(A,B): x → a₁ ~ A(·|x) → a₂ ~ B(·|a₁); P = P_A · P_B (see the module docstring)."""

    spec_name = "conv"
    access: ClassVar[str] = "kernel"

    def __init__(self, first: Any = "knn", second: Any = "knn"):
        self.first = first
        self.second = second

    @classmethod
    def from_call(cls, call: Call) -> ConvolutionContext:
        if call.kwargs or len(call.args) != 2:
            raise SpecError(f"conv takes exactly two contexts, as in conv(scarf(p=0.3),label); "
                            f"got {format_spec(call)!r}")
        return cls(*(make_context(a) for a in call.args))

    def spec_call(self) -> Call:
        first = _component(self.first, "conv")
        second = _component(self.second, "conv")
        return Call("conv", (first.spec_call(), second.spec_call()))

    @property
    def value_space(self) -> str:  # type: ignore[override]
        return _component(self.second, "conv").value_space

    @property
    def needs_labels(self) -> bool:  # type: ignore[override]
        return any(_component(c, "conv").needs_labels for c in (self.first, self.second))

    def fit(self, X: np.ndarray, y: Any = None, *, cache: Any = None) -> ConvolutionContext:
        who = self.spec()
        first = _component(self.first, who)
        second = _component(self.second, who)
        if first.value_space == "label":
            raise SpecError(f"{who}: {second.spec()} cannot act on the values of "
                            f"{first.spec()}, which are classes; put the label context last")
        self.first_ = _fit_component(first, X, y)
        self.second_ = _fit_component(second, X, y)
        op_a = self.first_.operator()
        if op_a.features:
            raise SpecError(f"{who}: {first.spec()} is a linear-kernel context with no "
                            "transition to chain from; put it last")
        self._sample_weight = None if np.allclose(op_a.pi, op_a.pi[0]) else op_a.pi
        P_a = _transition_matrix(op_a)
        c_a = np.asarray(P_a.T @ op_a.pi).ravel()
        P_b, features = self._second_rows(op_a, P_a, c_a, who)
        self.n_samples_ = op_a.n_samples
        self.n_features_in_ = getattr(self.first_, "n_features_in_", None)
        self.second_rows_ = P_b
        self.features_ = features
        self.P_ = _matmul(P_a, P_b)
        return self

    def _second_rows(self, op_a: ContextOperator, P_a, c_a: np.ndarray, who: str):
        """Rows B(·|a₁) for every value a₁ of the first context, and whether B is a feature map."""
        second = self.second_
        op_b = second.operator()
        if second.value_space == "label" and not _is_sample_valued(self.first_, op_a):
            # posterior P(y | a) = Σ_i P_a[i, a] π_i 1{y_i = y} / c_a for Monte-Carlo draws
            post = sp.csr_matrix(P_a).T @ sp.diags(op_a.pi)
            post = sp.diags(np.where(c_a > 0, 1.0 / np.maximum(c_a, 1e-300), 0.0)) @ post
            rows = _matmul(post, _transition_matrix(op_b))
        elif _is_sample_valued(self.first_, op_a):
            rows = _transition_matrix(op_b)
        else:
            points = getattr(self.first_, "A_", None)
            if points is None:
                raise SpecError(f"{who}: the values of {self.first_.spec()} are not points "
                                f"that {second.spec()} can act on")
            rows = second.transition(points)
        if op_b.features:
            rows = _rewhitened_features(np.asarray(rows.toarray() if sp.issparse(rows) else rows),
                                        c_a)
        return rows, op_b.features

    def operator(self, memory_budget: int | None = None) -> ContextOperator:
        check_fitted(self)
        return ContextOperator(self.P_, sample_weight=self._sample_weight,
                               memory_budget=memory_budget, features=self.features_,
                               exact=True,
                               description=f"{self.spec()}: P = P_A·P_B, "
                                           f"{self.P_.shape[0]}×{self.P_.shape[1]}")

    def transition(self, X_new: np.ndarray):
        check_fitted(self)
        return _matmul(self.first_.transition(X_new), self.second_rows_)

    def sample_indices(self, indices: np.ndarray, random_state: Any = None) -> np.ndarray:
        """One column of P = P_A·P_B per row: a₂'s index among B's values."""
        check_fitted(self)
        if self.features_:
            raise ParameterError(f"{self.spec()}: a linear-kernel context has no finite values")
        idx = check_indices(indices, self.n_samples_, f"{self.spec()}.sample_indices")
        return _sample_rows(self.P_, idx, make_rng(random_state))

    def sample(self, indices: np.ndarray, random_state: Any = None) -> np.ndarray:
        """Chained sampling: a₁ ~ A(·|x_i), then a₂ ~ B(·|a₁); returns B's value a₂."""
        cols = self.sample_indices(indices, random_state)
        return _column_values(self.second_, cols)


def _sample_rows(P, idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One column per row i in ``idx``, drawn from the row distribution P[i]."""
    out = np.empty(idx.size, dtype=np.int64)
    u = rng.random(idx.size)
    for t, i in enumerate(idx):
        if sp.issparse(P):
            start, end = P.indptr[i], P.indptr[i + 1]
            cols, probs = P.indices[start:end], P.data[start:end]
        else:
            probs = P[i]
            cols = np.arange(probs.size)
        cdf = np.cumsum(probs)
        out[t] = cols[min(np.searchsorted(cdf, u[t] * cdf[-1], side="right"), cols.size - 1)]
    return out


def _column_values(ctx: Context, cols: np.ndarray) -> np.ndarray:
    """The context values of columns ``cols`` of a fitted context's P."""
    if ctx.value_space == "label" and hasattr(ctx, "classes_"):
        out = np.zeros((cols.size, ctx.classes_.size))
        out[np.arange(cols.size), cols] = 1.0
        return out
    points = getattr(ctx, "A_", None)
    if points is None:
        points = getattr(ctx, "X_", None)
    if points is None:
        raise ParameterError(f"{ctx.spec()}: its values cannot be listed")
    return points[cols]


def _parse_weights(values: list[float], who: str) -> np.ndarray:
    w = np.asarray(values, dtype=np.float64)
    if not np.isfinite(w).all() or np.any(w < 0):
        raise ParameterError(f"{who}: mixture weights must be non-negative, got "
                             f"{', '.join(f'{v:g}' for v in w)}")
    if abs(w.sum() - 1.0) > WEIGHT_TOLERANCE:
        raise ParameterError(f"{who}: mixture weights must sum to 1, they sum to {w.sum():g}")
    return w / w.sum()


@register_context
class MixtureContext(Context):
    """mix(w₁*A₁,…,w_r*A_r): the convex combination, M = Σ w_i M_i (see the module docstring).

    Parameters
    ----------
    components : list of contexts or spec strings
    weights : list of floats, ``"equal"`` or ``"minimax"``
    eta : float
        Step of the minimax re-weighting w_i ← w_i exp(η ẑ_i) (docs/theory.md §7).
    rounds : int
        Number of minimax re-weighting rounds (the exact analogue of training epochs).
    """

    spec_name = "mix"

    def __init__(self, components: Any = (), weights: Any = "equal", eta: float = 0.03,
                 rounds: int = 30):
        self.components = components
        self.weights = weights
        self.eta = eta
        self.rounds = rounds

    @classmethod
    def from_call(cls, call: Call) -> MixtureContext:
        if len(call.args) < 2:
            raise SpecError(f"mix needs at least two contexts, as in mix(0.7*knn(k=5),0.3*label);"
                            f" got {format_spec(call)!r}")
        params = call.params
        unknown = sorted(set(params) - {"weights", "eta", "rounds"})
        if unknown:
            raise SpecError(f"mix: unknown parameter(s) {', '.join(unknown)}; it takes weights, "
                            "eta, rounds")
        given = [a.weight for a in call.args]
        comps = [make_context(Call(a.name, a.args, a.kwargs)) for a in call.args]
        weights = params.get("weights", "equal")
        if any(g is not None for g in given):
            if any(g is None for g in given):
                raise SpecError("mix: give a weight to every component or to none")
            if "weights" in params:
                raise SpecError("mix: weights are given twice (as w*A and weights=...)")
            weights = [float(g) for g in given]
        return cls(comps, weights, params.get("eta", 0.03), params.get("rounds", 30))

    def spec_call(self) -> Call:
        comps = [_component(c, "mix") for c in self.components]
        kwargs: list[tuple[str, Any]] = []
        if isinstance(self.weights, str):
            args = tuple(c.spec_call() for c in comps)
            if self.weights != "equal":
                kwargs.append(("weights", self.weights))
                if self.eta != 0.03:
                    kwargs.append(("eta", self.eta))
                if self.rounds != 30:
                    kwargs.append(("rounds", self.rounds))
        else:
            args = tuple(Call(s.name, s.args, s.kwargs, float(w))
                         for s, w in zip((c.spec_call() for c in comps), self.weights,
                                         strict=False))
        return Call("mix", args, tuple(kwargs))

    @property
    def needs_labels(self) -> bool:  # type: ignore[override]
        return any(_component(c, "mix").needs_labels for c in self.components)

    @property
    def value_space(self) -> str:  # type: ignore[override]
        spaces = {_component(c, "mix").value_space for c in self.components}
        return spaces.pop() if len(spaces) == 1 else "other"

    def _check(self) -> tuple[list[Context], np.ndarray | None]:
        who = "mix"
        comps = [_component(c, who) for c in self.components]
        if len(comps) < 2:
            raise SpecError("mix needs at least two contexts")
        if isinstance(self.weights, str):
            if self.weights == "equal":
                return comps, np.full(len(comps), 1.0 / len(comps))
            if self.weights == "minimax":
                eta = float(self.eta)
                if not np.isfinite(eta) or eta <= 0:
                    raise ParameterError(f"mix: eta must be positive, got {self.eta!r}")
                if int(self.rounds) < 1:
                    raise ParameterError(f"mix: rounds must be at least 1, got {self.rounds!r}")
                return comps, None
            raise ParameterError(f"mix: weights must be numbers, 'equal' or 'minimax', "
                                 f"got {self.weights!r}")
        weights = list(self.weights)
        if len(weights) != len(comps):
            raise ParameterError(f"mix: {len(weights)} weights for {len(comps)} contexts")
        return comps, _parse_weights(weights, self.spec())

    def fit(self, X: np.ndarray, y: Any = None, *, cache: Any = None) -> MixtureContext:
        comps, weights = self._check()
        self.components_ = [_fit_component(c, X, y) for c in comps]
        ops = [c.operator() for c in self.components_]
        n = ops[0].n_samples
        for c, op in zip(comps, ops, strict=True):
            if op.n_samples != n:
                raise ParameterError(f"{self.spec()}: components disagree on the sample size")
            if not np.allclose(op.pi, ops[0].pi):
                raise ParameterError(f"{self.spec()}: {c.spec()} weighs the samples differently "
                                     "from the other components (P_X must agree)")
        self.n_samples_ = n
        self.n_features_in_ = getattr(self.components_[0], "n_features_in_", None)
        self.component_operators_ = ops
        self.weights_ = weights
        self.weights_history_ = [] if weights is None else [weights.tolist()]
        return self

    def set_weights(self, weights: np.ndarray, history: list[list[float]] | None = None) -> None:
        """Fix resolved (e.g. minimax) weights on a fitted mixture."""
        check_fitted(self)
        self.weights_ = _parse_weights(list(weights), self.spec())
        if history is not None:
            self.weights_history_ = [list(map(float, h)) for h in history]

    def _resolved(self) -> np.ndarray:
        check_fitted(self)
        if self.weights_ is None:
            raise ParameterError(f"{self.spec()}: minimax weights depend on the encoder; fit a "
                                 "Contexture (or an encoder) on this mixture to resolve them, or "
                                 "give fixed weights")
        return self.weights_

    def operator(self, memory_budget: int | None = None) -> ContextOperator:
        w = self._resolved()
        ops = self.component_operators_
        if all(not op.features for op in ops):
            blocks = [_transition_matrix(op) for op in ops]
            if all(sp.issparse(b) for b in blocks):
                P = sp.hstack([wi * b for wi, b in zip(w, blocks, strict=True)], format="csr")
            else:
                P = np.hstack([wi * (b.toarray() if sp.issparse(b) else b)
                               for wi, b in zip(w, blocks, strict=True)])
            op = ContextOperator(P, sample_weight=ops[0].pi, memory_budget=memory_budget)
        else:
            # Q = [√w_i Q_i]: valid for transition and feature components alike
            Qs = [np.sqrt(wi) * op.dense_q() for wi, op in zip(w, ops, strict=True)]
            F = np.hstack(Qs) / np.sqrt(ops[0].pi)[:, None]
            op = ContextOperator(F, sample_weight=ops[0].pi, memory_budget=memory_budget,
                                 features=True)
        op.description = (f"{self.spec()}: M = Σ w_i M_i with w = "
                          f"[{', '.join(f'{v:.4g}' for v in w)}]")
        # components built on approximate neighbour lists: say so on the mixture's result
        op.search_notes = [note for o in ops for note in getattr(o, "search_notes", ())]
        if any(getattr(o, "report_approximation", None) is not None for o in ops):
            op.report_approximation = lambda result: (
                "a component used approximate neighbour lists; their effect on the mixture's "
                "s_1..s_d is not estimated")
        return op

    def transition(self, X_new: np.ndarray):
        w = self._resolved()
        ops = self.component_operators_
        rows = [c.transition(X_new) for c in self.components_]
        if any(op.features for op in ops):
            # the feature rows of operator(): √w_i P_i(x)[:, kept] / √c_i for a transition
            # component, √w_i f_i(x) for a linear-kernel one (its c is 1)
            blocks = []
            for wi, r, op in zip(w, rows, ops, strict=True):
                r = r.toarray() if sp.issparse(r) else np.asarray(r)
                blocks.append(np.sqrt(wi) * r[:, op.kept_columns] / np.sqrt(op.col_mass))
            return np.hstack(blocks)
        if all(sp.issparse(r) for r in rows):
            return sp.hstack([wi * r for wi, r in zip(w, rows, strict=True)], format="csr")
        return np.hstack([wi * (r.toarray() if sp.issparse(r) else r)
                          for wi, r in zip(w, rows, strict=True)])

    def sample_components(self, indices: np.ndarray, random_state: Any = None) -> np.ndarray:
        """Which component each draw comes from (i.i.d. with probabilities w)."""
        w = self._resolved()
        idx = check_indices(indices, self.n_samples_, f"{self.spec()}.sample")
        return make_rng(random_state).choice(w.size, size=idx.size, p=w)

    def sample(self, indices: np.ndarray, random_state: Any = None) -> np.ndarray:
        """Pick component i with probability w_i, then a ~ P_i(·|x)."""
        if self.value_space == "other":
            raise ParameterError(f"{self.spec()}: the components' values live in different "
                                 "spaces, so one draw cannot mix them; sample each component")
        rng = make_rng(random_state)
        idx = np.asarray(indices)
        which = self.sample_components(idx, rng)
        out = None
        for j, comp in enumerate(self.components_):
            sel = np.flatnonzero(which == j)
            if sel.size == 0:
                continue
            vals = comp.sample(idx[sel], rng)
            if out is None:
                out = np.empty((idx.size, vals.shape[1]))
            out[sel] = vals
        return out


@register_context
class ConcatenationContext(Context):
    """concat(A,B,…): one encoder per component, features standardised and concatenated.

    Defined at the representation level only; :meth:`operator` explains that. ``Contexture``
    fits each component and concatenates their exact eigenfunctions.
    """

    spec_name = "concat"
    value_space = "other"

    def __init__(self, components: Any = ()):
        self.components = components

    @classmethod
    def from_call(cls, call: Call) -> ConcatenationContext:
        if call.kwargs or len(call.args) < 2 or any(a.weight is not None for a in call.args):
            raise SpecError(f"concat takes two or more contexts and no parameters, as in "
                            f"concat(knn(k=30),scarf(p=0.3)); got {format_spec(call)!r}")
        return cls([make_context(a) for a in call.args])

    def spec_call(self) -> Call:
        comps = [_component(c, "concat") for c in self.components]
        return Call("concat", tuple(c.spec_call() for c in comps))

    @property
    def needs_labels(self) -> bool:  # type: ignore[override]
        return any(_component(c, "concat").needs_labels for c in self.components)

    def component_contexts(self) -> list[Context]:
        comps = [_component(c, "concat") for c in self.components]
        if len(comps) < 2:
            raise SpecError("concat needs at least two contexts")
        return comps

    def fit(self, X: np.ndarray, y: Any = None, *, cache: Any = None) -> ConcatenationContext:
        self.components_ = [_fit_component(c, X, y) for c in self.component_contexts()]
        self.n_samples_ = np.asarray(X).shape[0]
        return self

    def operator(self, memory_budget: int | None = None) -> ContextOperator:
        raise ParameterError(f"{self.spec()}: concatenation is defined at the representation "
                             "level (one encoder per component), so it has no single operator, "
                             "spectrum or τ; score its components, or fit a Contexture on it to "
                             "get the concatenated eigenfunctions")
