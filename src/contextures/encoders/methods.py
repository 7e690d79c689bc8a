"""Training recipes: for each objective name, what the pipeline draws and which loss it feeds.

A :class:`Method` binds a loss of :mod:`~contextures.encoders.objectives` to a context:

- :meth:`Method.check` refuses an objective/context mismatch with a ParameterError (KISE and the
  nested loss need kernel access; sample-based objectives need a context that can be sampled;
  Laplacian eigenmaps need finite values on the sample; supervised needs labels);
- :meth:`Method.build` makes the networks (the encoder, and for SVME the context encoder Ψ) and
  the loss module (which owns the supervised head or the denoising decoder);
- :meth:`Method.loss` draws the batch from the context through the
  :class:`~contextures.encoders.pipeline.ContextSampler` and evaluates the loss.

``encodes_context`` marks objectives whose trained network Ψ encodes the context variable
(contrastive, VICReg, denoising): the representation of x is then Φ = T Ψ.

Batches are drawn uniformly without replacement from the training rows (the *population* of
:meth:`Method.set_population`). Every loss receives the P_X weights of its rows, and the kernel
objectives receive Horvitz–Thompson estimates over that population
(:mod:`~contextures.encoders.kernels`), so a mini-batch loss is an unbiased estimate of the
population objective for uniform and non-uniform P_X alike (up to the batch centring and the
non-linear regularisers, whose bias is O(1/m) and does not grow with N/m).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from ..exceptions import ParameterError, SpecError
from ..spec import Call, format_spec, parse_spec
from ._runtime import to_tensor
from .kernels import DenseKernelBlock, OperatorKernel
from .objectives import (
    KISELoss,
    LaplacianLoss,
    NestedLowRankLoss,
    ReconstructionLoss,
    SpectralContrastiveLoss,
    SupervisedLoss,
    SVMELoss,
    VICRegLoss,
)
from .pipeline import ContextSampler

MakeNet = Callable[[int, int], nn.Module]


class Method:
    """Base class of the training recipes (one per objective name)."""

    name: ClassVar[str] = ""
    encodes_context: ClassVar[bool] = False
    defaults: ClassVar[dict[str, Any]] = {}
    description: ClassVar[str] = ""

    def __init__(self, **params: Any):
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            allowed = ", ".join(self.defaults) or "none"
            raise ParameterError(f"objective {self.name!r}: unknown parameter(s) "
                                 f"{', '.join(unknown)} (it takes: {allowed})")
        self.params = {**self.defaults, **params}
        for key in ("c_std", "c_cov", "invariance", "variance", "covariance"):
            if key in self.params:
                value = self.params[key]
                if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                    raise ParameterError(f"objective {self.name!r}: {key} must be a "
                                         f"non-negative number, got {value!r}")
        self._kernels: dict[int, OperatorKernel] = {}
        self._train_mask: np.ndarray | None = None
        self._train_count = 0
        self._train_mass = 1.0

    def set_population(self, sampler: ContextSampler, train_rows: np.ndarray) -> None:
        """The rows training batches are drawn from (uniformly, without replacement).

        Batches inside this set are estimated against it (N = |train_rows|, P_X renormalised
        over it); any other row set (the held-out rows) is its own population.
        """
        mask = np.zeros(sampler.n, dtype=bool)
        mask[np.asarray(train_rows)] = True
        self._train_mask = mask
        self._train_count = int(mask.sum())
        pi = sampler.weights
        self._train_mass = 1.0 if pi is None else float(pi[mask].sum())
        self._kernels.clear()

    def _population(self, sampler: ContextSampler, rows: np.ndarray) -> tuple[int, float]:
        """(N, Σ π over the population) for a batch ``rows``."""
        pi = sampler.weights
        if self._train_mask is not None and self._train_mask[rows].all():
            return self._train_count, self._train_mass
        if self._train_mask is None and len(rows) < sampler.n:
            return sampler.n, 1.0
        return len(rows), (1.0 if pi is None else float(pi[rows].sum()))

    def spec(self) -> str:
        """Canonical spec: the name and every parameter that differs from its default."""
        changed = tuple((k, v) for k, v in self.params.items() if v != self.defaults[k])
        return format_spec(Call(self.name, (), changed))

    # --- contract ---------------------------------------------------------------------------
    def check(self, sampler: ContextSampler) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def build(self, in_dim: int, out_dim: int, make_net: MakeNet,
              sampler: ContextSampler) -> nn.ModuleDict:
        return nn.ModuleDict({"encoder": make_net(in_dim, out_dim), "loss": self.make_loss(
            out_dim, sampler)})

    def make_loss(self, out_dim: int, sampler: ContextSampler) -> nn.Module:  # pragma: no cover
        raise NotImplementedError

    def loss(self, modules: nn.ModuleDict, sampler: ContextSampler, rows: np.ndarray,
             rng: np.random.Generator, X: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    # --- shared helpers ---------------------------------------------------------------------
    def _need_sampling(self, sampler: ContextSampler, alternative: str) -> None:
        if sampler.finite_values() or sampler.can_sample():
            return
        raise ParameterError(
            f"objective {self.name!r} needs sample access (draws a ~ P⁺(·|x)), but context "
            f"{sampler.name} cannot be sampled (kernel access only); use {alternative}")

    def _need_input_values(self, sampler: ContextSampler) -> None:
        if sampler.value_space != "input":
            what = ("labels" if sampler.value_space == "label"
                    else f"not points of the input space (value space {sampler.value_space!r})")
            raise ParameterError(
                f"objective {self.name!r} trains an encoder Ψ of the context variable and "
                f"represents x by Φ = TΨ, which needs context values in the input space; the "
                f"values of context {sampler.name} are {what} (use svme, kise or supervised "
                "instead)")

    def _need_kernel(self, sampler: ContextSampler) -> None:
        if not sampler.has_kernel():
            raise ParameterError(
                f"objective {self.name!r} needs kernel access (the dual kernel k_X⁺ on batches), "
                f"but context {sampler.name} can only be sampled; use svme, vicreg or "
                "contrastive with it")

    def kernel(self, sampler: ContextSampler, rows: np.ndarray, device) -> Any:
        """k_X⁺ on a batch with its Horvitz–Thompson weights over the population: the operator
        for large row sets (cached), a dense Gram block otherwise."""
        population, mass = self._population(sampler, rows)
        if 4 * len(rows) >= sampler.n:
            key = zlib.crc32(np.ascontiguousarray(rows).tobytes()) ^ len(rows) ^ population
            if key not in self._kernels:
                if len(self._kernels) > 4:
                    self._kernels.clear()
                self._kernels[key] = OperatorKernel(sampler.operator(), rows, device=device,
                                                    population=population, mass=mass)
            return self._kernels[key]
        G = torch.as_tensor(sampler.kernel_block(rows), dtype=torch.float32, device=device)
        pi = sampler.weights
        p = (np.full(len(rows), 1.0 / population) if pi is None else pi[rows] / mass)
        return DenseKernelBlock(G, pi=torch.as_tensor(p, dtype=torch.float32, device=device),
                                population=population)

    def _weights(self, sampler: ContextSampler, rows: np.ndarray, device):
        pi = sampler.weights
        if pi is None:
            return None
        return torch.as_tensor(pi[rows] / pi[rows].sum(), dtype=torch.float32, device=device)

    def _context_rows(self, sampler: ContextSampler, rows: np.ndarray,
                      rng: np.random.Generator, X: torch.Tensor, n_views: int):
        """``n_views`` draws a ~ P⁺(·|x_i) per row, as (inputs, [index arrays into inputs]).

        Finite contexts return the distinct training rows drawn (evaluate the network once on
        them); others return the sampled rows stacked.
        """
        if sampler.finite_values():
            draws = [sampler.value_indices(rows, rng) for _ in range(n_views)]
            uniq, inverse = np.unique(np.concatenate(draws), return_inverse=True)
            m = len(rows)
            return X[torch.as_tensor(uniq)], [inverse[k * m:(k + 1) * m] for k in range(n_views)]
        draws = [sampler.sample(rows, rng) for _ in range(n_views)]
        stacked = to_tensor(np.concatenate(draws), X.device)
        m = len(rows)
        return stacked, [np.arange(k * m, (k + 1) * m) for k in range(n_views)]


# --- the recipes ----------------------------------------------------------------------------------


class Supervised(Method):
    name = "supervised"
    defaults = {"head_bias": True, "balanced": None}
    description = "MSE with a linear head on the one-hot label (label context)"

    def check(self, sampler):
        if sampler.value_space != "label":
            raise ParameterError(
                f"objective 'supervised' needs a label context ('label' or "
                f"'label(balanced=true)', fitted with y); got context {sampler.name}")
        if not sampler.can_sample():
            raise ParameterError(f"objective 'supervised' needs the labels of the training rows, "
                                 f"but context {sampler.name} cannot provide them")

    def _balanced(self, sampler) -> bool:
        b = self.params["balanced"]
        if b is None:
            b = bool(getattr(sampler.context, "balanced", False))
        return bool(b)

    def _feature_targets(self, sampler) -> np.ndarray | None:
        """The target rows when the context is a linear kernel of features (regression labels:
        the constant and the whitened centred targets ỹ), else None (classes: one-hot draws)."""
        if not sampler.has_kernel():
            return None
        op = sampler.operator()
        if not getattr(op, "features", False):
            return None
        return np.asarray(op.P, dtype=np.float64)

    def make_loss(self, out_dim, sampler):
        self._targets = self._feature_targets(sampler)
        if self._targets is not None:
            # Regression: the whitened targets' linear kernel already is k_X⁺, so the balanced
            # scaling has nothing to correct; it is the same objective either way.
            return SupervisedLoss(out_dim, self._targets.shape[1],
                                  head_bias=bool(self.params["head_bias"]))
        balanced = self._balanced(sampler)
        prior = None
        n_targets = sampler.sample_dim
        if balanced:
            op = sampler.operator()
            if op.P.shape[1] != n_targets:
                raise ParameterError(
                    f"objective 'supervised(balanced=true)' needs one context value per target "
                    f"column; context {sampler.name} has {op.P.shape[1]} values for "
                    f"{n_targets} target columns")
            full = np.zeros(n_targets)
            full[op.kept_columns] = op.col_mass
            prior = torch.as_tensor(full, dtype=torch.float32)
        return SupervisedLoss(out_dim, n_targets, head_bias=bool(self.params["head_bias"]),
                              balanced=balanced, class_prior=prior)

    def loss(self, modules, sampler, rows, rng, X):
        phi = modules["encoder"](X[torch.as_tensor(rows)])
        targets = getattr(self, "_targets", None)
        target = targets[rows] if targets is not None else sampler.sample(rows, rng)
        return modules["loss"](phi, to_tensor(target, X.device),
                               self._weights(sampler, rows, X.device))


class _TwoViews(Method):
    encodes_context = True

    def check(self, sampler):
        self._need_input_values(sampler)
        self._need_sampling(sampler, "kise or nested")

    def make_loss(self, out_dim, sampler):  # pragma: no cover - abstract
        raise NotImplementedError

    def loss(self, modules, sampler, rows, rng, X):
        inputs, (ia, ib) = self._context_rows(sampler, rows, rng, X, 2)
        Z = modules["encoder"](inputs)
        return modules["loss"](Z[torch.as_tensor(ia)], Z[torch.as_tensor(ib)],
                               self._weights(sampler, rows, X.device))


class Contrastive(_TwoViews):
    name = "contrastive"
    description = "spectral contrastive loss on two views (Φ = TΨ)"

    def make_loss(self, out_dim, sampler):
        return SpectralContrastiveLoss()


class VICReg(_TwoViews):
    name = "vicreg"
    defaults = {"invariance": 25.0, "variance": 25.0, "covariance": 1.0}
    description = "VICReg non-contrastive loss on two views (Φ = TΨ)"

    def make_loss(self, out_dim, sampler):
        p = self.params
        return VICRegLoss(p["invariance"], p["variance"], p["covariance"])


class SVME(Method):
    name = "svme"
    defaults = {"c_std": 1.0, "c_cov": 1.0}
    description = "two encoders Φ(x), Ψ(a), sample access"

    def check(self, sampler):
        self._need_sampling(sampler, "kise or nested")

    def build(self, in_dim, out_dim, make_net, sampler):
        ctx_dim = in_dim if sampler.finite_values() else sampler.sample_dim
        return nn.ModuleDict({
            "encoder": make_net(in_dim, out_dim),
            "context_encoder": make_net(ctx_dim, out_dim),
            "loss": SVMELoss(self.params["c_std"], self.params["c_cov"]),
        })

    def loss(self, modules, sampler, rows, rng, X):
        phi = modules["encoder"](X[torch.as_tensor(rows)])
        inputs, (ia,) = self._context_rows(sampler, rows, rng, X, 1)
        psi = modules["context_encoder"](inputs)[torch.as_tensor(ia)]
        return modules["loss"](phi, psi, self._weights(sampler, rows, X.device))


class KISE(Method):
    name = "kise"
    defaults = {"c_std": 1.0, "c_cov": 1.0}
    description = "one encoder, kernel access (Gram blocks of k_X⁺)"

    def check(self, sampler):
        self._need_kernel(sampler)

    def make_loss(self, out_dim, sampler):
        return KISELoss(self.params["c_std"], self.params["c_cov"])

    def loss(self, modules, sampler, rows, rng, X):
        phi = modules["encoder"](X[torch.as_tensor(rows)])
        return modules["loss"](phi, self.kernel(sampler, rows, X.device))


class Nested(Method):
    name = "nested"
    description = "nested low-rank approximation of k_X⁺ (ordered), kernel access"

    def check(self, sampler):
        self._need_kernel(sampler)

    def make_loss(self, out_dim, sampler):
        return NestedLowRankLoss()

    def loss(self, modules, sampler, rows, rng, X):
        phi = modules["encoder"](X[torch.as_tensor(rows)])
        return modules["loss"](phi, self.kernel(sampler, rows, X.device))


class Denoising(Method):
    name = "dae"
    encodes_context = True
    defaults = {"masked_only": False}
    description = "denoising / masked reconstruction of x from a ~ P⁺(·|x) (Φ = TΨ)"

    def check(self, sampler):
        self._need_input_values(sampler)
        self._need_sampling(sampler, "kise or nested")

    def make_loss(self, out_dim, sampler):
        return ReconstructionLoss(out_dim, sampler.X.shape[1],
                                  masked_only=bool(self.params["masked_only"]))

    def loss(self, modules, sampler, rows, rng, X):
        inputs, (ia,) = self._context_rows(sampler, rows, rng, X, 1)
        a = inputs[torch.as_tensor(ia)]
        x = X[torch.as_tensor(rows)]
        psi = modules["encoder"](a)
        return modules["loss"](psi, x, mask=(a != x),
                               weights=self._weights(sampler, rows, X.device))


class Laplacian(Method):
    """Laplacian eigenmaps on edges (u, v) of a finite context (values = the sample points).

    ``hops=2`` (default) draws u ~ P_X (the batch rows, weighted), a ~ P⁺(·|u), then
    v ~ P(x = · | a) = P_X(v) P⁺(a|v) / P_A(a): the pair (u, v) has the joint law
    P_X(u) P_X(v) k_X⁺(u, v), so the edge kernel is the dual kernel and the objective is the
    KISE/SVME population objective for every finite context (KNN, RBF, graphs, masked variants).

    ``hops=1`` uses the context's own edges v ~ P⁺(·|u) (all edges of P[rows] when P is sparse
    and the batch large). Its minimiser spans the top eigenfunctions of the operator P in
    L²(P_X) only when P is self-adjoint there, i.e. the context is reversible
    (P_X(u) P⁺(v|u) = P_X(v) P⁺(u|v): graphs with P_X ∝ degree); other contexts are refused.
    Even then those are the eigenfunctions of T T* = P² only when no eigenvalue of P lies below
    −s_d (lazy walks, graphs with self-loops); two hops need neither condition.
    """

    name = "laplacian"
    defaults = {"c_std": 1.0, "c_cov": 1.0, "edge_draws": 4, "hops": 2}
    description = ("Laplacian eigenmaps on two-hop edges u → a → v (edge kernel k_X⁺); "
                   "hops=1 for reversible contexts")

    def check(self, sampler):
        if not sampler.finite_values():
            raise ParameterError(
                f"objective 'laplacian' needs a graph or another finite context whose values "
                f"are the sample points (graph, knn, rbf...); context {sampler.name} is not one")
        draws = self.params["edge_draws"]
        if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
            raise ParameterError(f"objective 'laplacian': edge_draws must be a positive "
                                 f"integer, got {draws!r}")
        hops = self.params["hops"]
        if isinstance(hops, bool) or hops not in (1, 2):
            raise ParameterError(f"objective 'laplacian': hops must be 1 or 2, got {hops!r}")
        if hops == 1 and not sampler.is_reversible():
            raise ParameterError(
                f"objective 'laplacian(hops=1)' learns the contexture only for a reversible "
                f"context (P_X(u) P⁺(v|u) = P_X(v) P⁺(u|v), e.g. a graph with P_X ∝ degree); "
                f"context {sampler.name} is not reversible under its P_X. Use hops=2 (edges "
                "u → a → v, whose kernel is k_X⁺), or kise")

    def make_loss(self, out_dim, sampler):
        return LaplacianLoss(self.params["c_std"], self.params["c_cov"])

    def _edges(self, sampler, rows, rng):
        """(u positions in rows, v sample indices, edge weights summing to 1)."""
        pi = sampler.weights
        pw = np.full(len(rows), 1.0 / len(rows)) if pi is None else pi[rows] / pi[rows].sum()
        k = self.params["edge_draws"]
        if self.params["hops"] == 1:
            P = sampler.operator().P
            if sp.issparse(P) and 4 * len(rows) >= sampler.n:
                block = sp.coo_matrix(sp.csr_matrix(P)[rows])
                return block.row, block.col, pw[block.row] * block.data
            v = np.concatenate([sampler.value_indices(rows, rng) for _ in range(k)])
        else:
            a = np.concatenate([sampler.value_indices(rows, rng) for _ in range(k)])
            v = sampler.reverse_value_indices(a, rng)
        u = np.tile(np.arange(len(rows)), k)
        return u, v, np.tile(pw, k) / k

    def loss(self, modules, sampler, rows, rng, X):
        u, v, w = self._edges(sampler, rows, rng)
        uniq, inverse = np.unique(np.concatenate([rows, v]), return_inverse=True)
        Z = modules["encoder"](X[torch.as_tensor(uniq)])
        m = len(rows)
        nodes = Z[torch.as_tensor(inverse[:m])]
        phi_v = Z[torch.as_tensor(inverse[m:])]
        phi_u = nodes[torch.as_tensor(u)]
        return modules["loss"](phi_u, phi_v, nodes,
                               torch.as_tensor(w, dtype=torch.float32, device=X.device),
                               self._weights(sampler, rows, X.device))


METHODS: dict[str, type[Method]] = {
    cls.name: cls
    for cls in (Supervised, Contrastive, VICReg, SVME, KISE, Denoising, Laplacian, Nested)
}


def make_method(objective: str | Method, params: dict[str, Any] | None = None) -> Method:
    """The recipe for an objective spec (see :data:`METHODS`) with its parameters.

    ``objective`` is a name (``"vicreg"``) or a spec in the project grammar with parameters
    (``"vicreg(invariance=10)"``, ``"kise(c_std=3,c_cov=3)"``); ``params`` are merged over it.
    """
    if isinstance(objective, Method):
        return objective
    if not isinstance(objective, str):
        raise ParameterError(f"objective must be a string, got {type(objective).__name__}")
    call = parse_spec(objective)
    if call.args:
        raise SpecError(f"objective {call.name!r} takes keyword parameters only")
    cls = METHODS.get(call.name)
    if cls is None:
        raise ParameterError(f"unknown objective {call.name!r}; choose one of "
                             f"{', '.join(METHODS)}")
    return cls(**{**call.params, **(params or {})})
