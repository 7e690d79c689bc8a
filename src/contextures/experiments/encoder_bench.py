"""``contextures bench encoders``: how close each objective comes to the exact contexture when
P_X is not uniform, when training is mini-batch, and with the Laplacian's two edge laws.

    contextures bench encoders [--seeds 3] [--threads 1] [--out DIR]
    python benchmarks/encoders_weights.py [--seeds 3] [--threads 1] [--out DIR]

Writes DIR/encoders_weights.json (every run) and DIR/SECTION.md (the tables); DIR defaults to
benchmarks/results/encoders. Every score is the mean squared canonical correlation (CCA R²)
between the encoder's extracted functions and the exact top-d eigenfunctions of the finite-sample
operator (dense eigendecomposition of M = Q Qᵀ), in L²(P_X), over the training rows; mean ± sd
over seeds. "untrained" is the same encoder after one epoch at lr = 1e-12: the score the
extraction step reaches without the objective.

A. KISE and the nested loss on a weighted kNN graph: 800 Gaussian points in 4-D (scales 1, 0.7,
   0.5, 0.3), union of the 20-neighbour lists, edge weights exp(−‖x_u − x_v‖²/median²), graph
   context (P_X ∝ degree; degree ratio ≈ 377), d = 4, d₁ = 16, MLP 64 × 2. Full batch
   (600 epochs, lr 1e-2) against batch 64 (100 epochs, lr 3e-3) with the Horvitz–Thompson
   estimates of ``encoders.kernels`` and with the plain weighted V-statistic
   Σ_{i,k∈S} w_i w_k G_ik z_i z_kᵀ (biased; emulated by making every batch its own
   population).
B. Subsample extraction on the same graph: B_Φ for Φ = the exact μ_1..μ_4 (centred on their
   P_X mean over all rows, as the extraction does) from m uniformly drawn rows, mean over 400
   draws, against the exact diag(B) = s_1², …, s_4²: Horvitz–Thompson against the V-statistic.
C. Laplacian eigenmaps on rbf(gamma=median), 400 anisotropic Gaussian points in 3-D, d = 4,
   d₁ = 8: one hop (v ~ P⁺(·|u), which the objective refuses since the context is not
   reversible under uniform P_X; run here by overriding the check) against two hops
   (u → a → v, edge kernel k_X⁺), KISE for reference.
D. The π-weighted sample objectives on a hub graph (240 points in [−1, 1]^6, w(u, v) =
   exp(−‖u − v‖²/0.08) h_u h_v on two coordinates, h = exp(1.5 x₀), lazy self-loops; P_X ∝
   degree, ratio ≈ 700), d = 3 (DAE: d = 1, scored against its closed-form optimum): with P_X
   against the same objective fed uniform weights.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from .._io import atomic_write_text
from ..contexts import GraphContext, RBFContext
from ..contexts.base import Context
from ..contexts.operator import ContextOperator
from ..encoders import ContextureEncoder
from ..encoders import methods as methods_module
from ..encoders import pipeline as pipeline_module
from ..encoders.extraction import kernel_matrices
from ..encoders.kernels import OperatorKernel
from ..reports.encoder_bench import section_markdown

COMMAND = "contextures bench encoders --seeds 3 --threads 1"


# --- problems ------------------------------------------------------------------------------------


def weighted_knn_graph(n=800, k=20, seed=0):
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)) * np.array([1.0, 0.7, 0.5, 0.3])
    dist, idx = NearestNeighbors(n_neighbors=k + 1).fit(X).kneighbors(X)
    scale = np.median(dist[:, 1:]) ** 2
    rows = np.repeat(np.arange(n), k)
    A = sp.csr_matrix((np.exp(-dist[:, 1:].ravel() ** 2 / scale), (rows, idx[:, 1:].ravel())),
                      shape=(n, n))
    return X, sp.csr_matrix(A.maximum(A.T))


def hub_graph(n=240, F=6, width=0.2, hub=1.5, lazy=0.5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, F))
    x = X[:, :2]
    K = np.exp(-((x[:, None] - x[None]) ** 2).sum(-1) / (2 * width ** 2))
    h = np.exp(hub * X[:, 0])
    W = K * h[:, None] * h[None]
    return X, W + lazy * np.diag(W.sum(1))


def exact(op: ContextOperator):
    """(s² descending, μ unit variance under π), the constant excluded."""
    w, U = np.linalg.eigh(op.dense_gram())
    w, U = w[::-1], U[:, ::-1]
    return w[1:], (U / np.sqrt(op.pi)[:, None])[:, 1:]


def cca(A, B, pi):
    """Mean squared canonical correlation of the column spans in L²(π)."""
    w = pi / pi.sum()

    def basis(M):
        M = np.asarray(M, float).reshape(len(w), -1)
        M = M - w @ M
        Q, R = np.linalg.qr(np.sqrt(w)[:, None] * M)
        d = np.abs(np.diag(R))
        return Q[:, d > 1e-10 * d.max()]

    s = np.linalg.svd(basis(A).T @ basis(B), compute_uv=False)
    k = min(np.asarray(A).reshape(len(w), -1).shape[1], np.asarray(B).reshape(len(w), -1).shape[1])
    return float(np.mean(np.clip(s[:k], 0, 1) ** 2))


class DenseGraph(Context):
    """A weighted graph given as a dense matrix (P = D⁻¹W, P_X ∝ degree), sampled from P."""

    spec_name = "dense_graph"
    value_space = "input"
    access = "kernel"

    def __init__(self, W=None):
        self.W = W

    def fit(self, X, y=None):
        self.X_ = X
        self.deg_ = self.W.sum(1)
        self.P_ = self.W / self.deg_[:, None]
        self.cdf_ = np.cumsum(self.P_, axis=1)
        return self

    def operator(self, memory_budget=None):
        return ContextOperator(sp.csr_matrix(self.P_), sample_weight=self.deg_ / self.deg_.sum())

    def sample_indices(self, indices, random_state=None):
        rng = (random_state if isinstance(random_state, np.random.Generator)
               else np.random.default_rng(random_state))
        cdf = self.cdf_[np.asarray(indices)]
        return np.minimum((cdf < rng.random(len(indices))[:, None]).sum(1), len(self.X_) - 1)

    def sample(self, indices, random_state=None):
        return self.X_[self.sample_indices(indices, random_state)]

    def spec(self):
        return "dense_graph"


# --- variants (what the code did before, emulated) ----------------------------------------------


class Patch:
    """Context manager replacing attributes for one run."""

    def __init__(self, *triples):
        self.triples = triples
        self.saved = []

    def __enter__(self):
        for owner, name, value in self.triples:
            self.saved.append((owner, name, getattr(owner, name)))
            setattr(owner, name, value)

    def __exit__(self, *exc):
        for owner, name, value in reversed(self.saved):
            setattr(owner, name, value)


def v_statistic():
    """Every batch is its own population: the weighted V-statistic of the former code."""
    def population(self, sampler, rows):
        pi = sampler.weights
        return len(rows), (1.0 if pi is None else float(pi[rows].sum()))
    return Patch((methods_module.Method, "_population", population))


def uniform_weights():
    return Patch((methods_module.Method, "_weights", lambda *args: None))


def one_hop_allowed():
    return Patch((pipeline_module.ContextSampler, "is_reversible", lambda self, rtol=1e-8: True))


class Nothing(Patch):
    def __init__(self):
        super().__init__()


# --- runs -----------------------------------------------------------------------------------------


def fit_score(make, X, truth, pi, seeds, patch=Nothing, features=False, control=False):
    scores, seconds, resolved = [], [], []
    for seed in range(seeds):
        enc = make(seed)
        if control:
            enc.set_params(epochs=1, lr=1e-12)
        with patch():
            start = time.perf_counter()
            enc.fit(X)
            seconds.append(time.perf_counter() - start)
        Z = enc.features(X) if features else enc.transform(X)
        scores.append(cca(Z, truth, pi))
        resolved.append(int(enc.n_components_resolved_))
    return {"cca": scores, "mean": statistics.fmean(scores),
            "sd": statistics.stdev(scores) if len(scores) > 1 else 0.0,
            "seconds": statistics.fmean(seconds), "resolved": resolved}


def section_a(seeds, threads):
    X, W = weighted_knn_graph()
    ctx = GraphContext(adjacency=W)
    op = ctx.fit(X).operator()
    s2, mu = exact(op)
    truth, pi = mu[:, :4], op.pi
    rows = []
    batch = dict(batch_size=64, epochs=100, lr=3e-3)
    for objective in ("kise", "nested"):
        def make(seed, objective=objective, **kw):
            p = dict(n_components=4, output_dim=16, hidden=64, depth=2, random_state=seed,
                     n_threads=threads, epochs=600, lr=1e-2)
            p.update(kw)
            return ContextureEncoder(GraphContext(adjacency=W), objective=objective, **p)

        def make_batch(seed, make=make):
            return make(seed, **batch)
        rows += [
            (objective, "full batch", fit_score(make, X, truth, pi, seeds)),
            (objective, "batch 64, Horvitz–Thompson",
             fit_score(make_batch, X, truth, pi, seeds)),
            (objective, "batch 64, V-statistic (biased)",
             fit_score(make_batch, X, truth, pi, seeds, patch=v_statistic)),
            (objective, "batch 64, untrained",
             fit_score(make_batch, X, truth, pi, seeds, control=True)),
        ]
    degree = np.asarray(W.sum(1)).ravel()
    info = {"n": X.shape[0], "degree_ratio": float(degree.max() / degree.min()),
            "s2_top5": [float(v) for v in s2[:5]]}
    return info, rows


def section_b(draws=400):
    X, W = weighted_knn_graph()
    op = GraphContext(adjacency=W).fit(X).operator()
    s2, mu = exact(op)
    Z = mu[:, :4]
    n = X.shape[0]
    rng = np.random.default_rng(0)
    out = []
    for m in (64, 256):
        ht, vs = [], []
        for _ in range(draws):
            rows = np.sort(rng.choice(n, m, replace=False))
            mass = float(op.pi[rows].sum())
            ht.append(np.diag(kernel_matrices(Z[rows], OperatorKernel(op, rows),
                                              mean=np.zeros(4))[2]))
            vs.append(np.diag(kernel_matrices(Z[rows], OperatorKernel(op, rows, population=m,
                                                                      mass=mass),
                                              mean=np.zeros(4))[2]))
        for name, vals in (("Horvitz–Thompson", ht), ("V-statistic (biased)", vs)):
            mean = np.mean(vals, 0)
            out.append({"m": m, "estimate": name, "mean_B_diag": [float(v) for v in mean],
                        "exact": [float(v) for v in s2[:4]],
                        "mean_abs_bias": float(np.mean(np.abs(mean - s2[:4])))})
    return out


def section_c(seeds, threads):
    X = np.random.default_rng(0).normal(size=(400, 3)) * np.array([2.0, 1.3, 0.8])
    op = RBFContext("median").fit(X).operator()
    s2, mu = exact(op)
    truth, pi = mu[:, :4], op.pi

    def make(seed, objective):
        return ContextureEncoder("rbf(gamma=median)", objective=objective, n_components=4,
                                 output_dim=8, hidden=64, depth=2, epochs=800, lr=1e-2,
                                 random_state=seed, n_threads=threads)
    rows = [
        ("laplacian", "one hop (refused by the objective)",
         fit_score(lambda s: make(s, "laplacian(hops=1)"), X, truth, pi, seeds,
                   patch=one_hop_allowed)),
        ("laplacian", "two hops (default)", fit_score(lambda s: make(s, "laplacian"), X, truth,
                                                      pi, seeds)),
        ("kise", "full batch", fit_score(lambda s: make(s, "kise"), X, truth, pi, seeds)),
        ("laplacian", "untrained", fit_score(lambda s: make(s, "laplacian"), X, truth, pi,
                                             seeds, control=True)),
    ]
    return {"n": 400, "s2_top5": [float(v) for v in s2[:5]]}, rows


def denoising_optimum(X, P, pi):
    c = pi @ P
    Xc = X - pi @ X
    g = (P.T @ (pi[:, None] * Xc)) / c[:, None]
    w, V = np.linalg.eigh(g.T @ (c[:, None] * g))
    return P @ (g @ V[:, -1])


def section_d(seeds, threads):
    X, W = hub_graph()
    ctx = DenseGraph(W)
    op = ctx.fit(X).operator()
    s2, mu = exact(op)
    pi = op.pi
    P = ctx.P_
    rows = []
    for objective in ("contrastive", "vicreg", "svme", "dae"):
        d = 1 if objective == "dae" else 3
        truth = denoising_optimum(X, P, pi) if objective == "dae" else mu[:, :3]
        epochs = {"svme": 800, "dae": 1000}.get(objective, 400)

        def make(seed, objective=objective, d=d, epochs=epochs):
            return ContextureEncoder(DenseGraph(W), objective=objective, n_components=d,
                                     output_dim=2 * d if d > 1 else 1, hidden=48, depth=2,
                                     epochs=epochs, lr=1e-2, random_state=seed,
                                     n_threads=threads)
        feats = objective == "dae"
        rows += [
            (objective, "with P_X", fit_score(make, X, truth, pi, seeds, features=feats)),
            (objective, "uniform weights (P_X ignored)",
             fit_score(make, X, truth, pi, seeds, patch=uniform_weights, features=feats)),
            (objective, "untrained", fit_score(make, X, truth, pi, seeds, features=feats,
                                               control=True)),
        ]
    degree = W.sum(1)
    _, mu_uniform = exact(ContextOperator(sp.csr_matrix(P)))
    info = {"n": X.shape[0], "degree_ratio": float(degree.max() / degree.min()),
            "span_uniform_vs_pi": cca(mu[:, :3], mu_uniform[:, :3], pi),
            "dae_optimum_uniform_vs_pi": cca(denoising_optimum(X, P, pi),
                                             denoising_optimum(X, P, np.full(len(X), 1 / len(X))),
                                             pi)}
    return info, rows


def run(seeds: int = 3, threads: int = 1, out: Path = Path("benchmarks/results/encoders"),
        sections: str = "ABCD", echo=print) -> dict:
    """Run the sections, write DIR/encoders_weights.json and (all four sections) DIR/SECTION.md."""
    torch.set_num_threads(threads)
    start = time.perf_counter()
    result = {"seeds": seeds, "threads": threads, "command": COMMAND,
              "machine": f"{platform.machine()}, {platform.python_version()}, "
                         f"torch {torch.__version__}"}
    steps = {"A": lambda: section_a(seeds, threads), "B": section_b,
             "C": lambda: section_c(seeds, threads), "D": lambda: section_d(seeds, threads)}
    for key in sections:
        t0 = time.perf_counter()
        result[key] = steps[key]()
        print(f"section {key}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    result["seconds"] = time.perf_counter() - start
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "encoders_weights.json", json.dumps(result, indent=2))
    if set("ABCD") <= set(result):
        text = section_markdown(result, COMMAND)
        atomic_write_text(out / "SECTION.md", text)
        echo(text)
    return result
