"""``ContextureEncoder``: learn the top-d singular functions of a context with a neural encoder.

    enc = ContextureEncoder("knn(k=30)", objective="vicreg", n_components=32).fit(X)
    mu = enc.transform(X_new)          # ordered estimates of μ_1..μ_d (unit variance)
    enc.singular_values_               # estimates of s_1..s_d
    enc.save("model/"); ContextureEncoder.load("model/")

Fitting = (1) fit the context on X (and y for label contexts); (2) train a network with d₁ ≥ d
outputs on the objective, drawing from the context in the data pipeline
(:mod:`~contextures.encoders.methods`); (3) extract ordered eigenfunctions and eigenvalue estimates
from the learned span (:mod:`~contextures.encoders.extraction`).

The features that represent x, before extraction:

- ``"phi"``: the network is an encoder Φ of x (supervised, SVME, KISE, Laplacian, nested);
- ``"t_psi"``: the network is an encoder Ψ of the context variable and the context's values are
  the training points (KNN, RBF, graphs...): Φ(x) = (TΨ)(x) = Σ_j P⁺(x_j | x) Ψ(x_j), exact, with
  the training transition rows for the training array and ``Context.transition`` for new points
  (the same extension as the spectral engine's);
- ``"psi"``: Ψ-encoders of augmentation contexts (noise, SCARF, crops...), whose T cannot be
  applied at a new point: Φ(x) ≈ Ψ(x), the encoder applied to the clean input (the usual practice;
  exact alignment is then only guaranteed through the extraction on views).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

from .._memory import resolve_budget
from ..contexts.base import Context, make_context
from ..exceptions import ParameterError
from ..validation import check_array, check_int, check_positive
from ._runtime import check_seed, resolve_device, to_numpy, to_tensor, torch_runtime
from .extraction import (
    Extraction,
    finalize,
    kernel_matrices,
    noise_floor,
    resolve,
    view_matrices,
    weighted_mean_cov,
)
from .kernels import OperatorKernel, kernel_diagonal
from .methods import make_method
from .networks import build_network
from .pipeline import ContextSampler, multiply
from .training import train

OUTPUT_DIM_CAP = 512
EXACT_RCOND = 1e-12     # directions of C_Φ kept: exact kernel matrices on the whole sample
ESTIMATE_RCOND = 1e-6   # ... Monte-Carlo or subsample estimates


def _float64_copy(net: torch.nn.Module) -> torch.nn.Module:
    """A detached float64 copy of a network on the CPU, in eval mode, for inference.

    Training runs in float32; inference in float64 makes ``transform`` of a row independent of
    the other rows of its call (no batch-size-dependent float32 rounding) and of the input's
    float precision.
    """
    import copy

    twin = copy.deepcopy(net).to(device="cpu", dtype=torch.float64)
    twin.eval()
    for p in twin.parameters():
        p.requires_grad_(False)
    return twin


def _standardize_inputs(modules, X: np.ndarray, sampler: ContextSampler) -> None:
    """Set the input standardisation of every network that reads points of the input space (the
    encoder; SVME's context encoder when the context values are inputs) from the training rows:
    shift = the mean row, scale = the root mean square of the centred entries (one number for
    every feature; 1 for constant data). One common scale keeps the features' relative sizes,
    which the context (distances, masks) sees too, and never magnifies a near-constant feature
    (an augmented or new row that varies there would be blown up by a per-feature scale)."""
    shift = X.mean(0)
    dev = X - shift
    top = float(np.abs(dev).max())
    rms = top * float(np.sqrt(np.mean((dev / top) ** 2))) if top > 0 else 0.0  # no overflow
    resolved = np.isfinite(rms) and rms > 1e-12 * float(np.abs(shift).max())
    scale = np.full(X.shape[1], rms if resolved and rms > 0 else 1.0)
    for name in ("encoder", "context_encoder"):
        net = modules[name] if name in modules else None
        if net is None or not hasattr(net, "set_standardization"):
            continue
        if net.shift.shape[0] != X.shape[1]:
            continue
        if name == "context_encoder" and sampler.value_space != "input":
            continue
        net.set_standardization(shift, scale)


class ContextureEncoder(TransformerMixin, BaseEstimator):
    """A neural encoder trained to learn the contexture of ``context`` (docs/theory.md §8).

    Parameters
    ----------
    context : str or Context
        The context spec (``"knn(k=30)"``, ``"label"``, ``"scarf(p=0.3)"``...) or an unfitted
        Context; a fresh clone is fitted on the training data.
    objective : str
        One of ``supervised, contrastive, vicreg, svme, kise, dae, laplacian, nested``, optionally
        with parameters in the spec grammar (``"vicreg(invariance=10)"``, ``"kise(c_std=3)"``).
    n_components : int
        d, the number of ordered singular functions extracted.
    output_dim : int, optional
        d₁ ≥ d, the network's output dimension (default 4d, capped at 512 and at the batch size).
    hidden, depth, activation, skip, architecture :
        The network: an MLP (``hidden`` wide, ``depth`` hidden layers, ``tanh``/``relu``/``gelu``,
        residual ``skip`` connections) or ``architecture="cnn"`` for square image inputs.
    epochs, batch_size, lr, weight_decay :
        AdamW training; ``batch_size=None`` trains full-batch.
    objective_params : dict, optional
        Extra objective parameters (merged over those in the ``objective`` spec).
    validation_fraction, patience :
        Hold out this fraction of the training rows; with ``patience``, stop after that many
        epochs without improvement of the held-out loss and keep the best weights.
    extraction_samples : int, optional
        m, the rows used to estimate C_Φ and B_Φ (default: every training row; kernel access is
        then exact on the sample; a uniform subsample gets the unbiased Horvitz–Thompson B_Φ).
    extraction_draws : int
        Draws per row for the sample-access extraction (SVME without kernel, Ψ-encoders of
        augmentation contexts).
    random_state : int, optional
        Seeds the initialisation, the batch order and the context draws (deterministic on CPU).
    device : str
        ``"auto"`` (CUDA if available, else CPU), ``"cpu"`` or ``"cuda[:i]"``.
    n_threads : int, optional
        Torch/BLAS threads while fitting and transforming (default: every available core); the
        previous settings are restored afterwards.
    verbose : bool
        Show a progress bar.
    memory_budget : int or str, optional
        Bytes that dense kernel blocks may take (default: see ``contextures._memory``).

    The network standardises its inputs with the training rows' mean and one common scale, and
    inference runs in float64, so ``transform`` is row-wise (a row's output does not depend on the
    other rows of the call) and the same for float32 and float64 input. Inputs are validated by
    scikit-learn (``validate_data``): its messages for 1-D, empty, sparse, complex and wrong-width
    input, raised as ParameterError (a ValueError) or, for sparse and non-numeric input, its
    TypeError.

    Attributes
    ----------
    eigenvalues_ : (d,) estimates λ_i of s_i², non-increasing.
    n_components_resolved_ : k ≤ d, the leading components whose λ_i is above the extraction
        sample's noise floor ε = Σ_i w_i² k_X⁺(x_i, x_i) (see ``encoders.extraction``);
        ``transform`` returns these k columns, named by ``get_feature_names_out``.
    singular_values_ : (d,) √λ_i, estimates of s_i.
    extraction_ : Extraction (mean, coefficients, C_Φ, B_Φ, rank).
    encoder_ : the trained network (Φ, or Ψ for context encoders).
    features_ : ``"phi"``, ``"t_psi"`` or ``"psi"`` (see the module docstring).
    history_ : dict with the per-epoch ``train`` and ``validation`` losses.
    context_ : the fitted context. objective_ : the objective's canonical spec.
    output_dim_, n_features_in_, n_epochs_, fit_time_, train_time_, device_.
    """

    def __init__(self, context: str | Context = "knn(k=30)", objective: str = "vicreg",
                 n_components: int = 8, output_dim: int | None = None, hidden: int = 512,
                 depth: int = 3, activation: str = "tanh", skip: bool = True,
                 architecture: str = "mlp", epochs: int = 200, batch_size: int | None = None,
                 lr: float = 1e-3, weight_decay: float = 1e-4,
                 objective_params: dict | None = None, validation_fraction: float = 0.0,
                 patience: int | None = None, extraction_samples: int | None = None,
                 extraction_draws: int = 4, random_state: int | None = None,
                 device: str = "auto", n_threads: int | None = None, verbose: bool = False,
                 memory_budget: int | str | None = None):
        self.context = context
        self.objective = objective
        self.n_components = n_components
        self.output_dim = output_dim
        self.hidden = hidden
        self.depth = depth
        self.activation = activation
        self.skip = skip
        self.architecture = architecture
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.objective_params = objective_params
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.extraction_samples = extraction_samples
        self.extraction_draws = extraction_draws
        self.random_state = random_state
        self.device = device
        self.n_threads = n_threads
        self.verbose = verbose
        self.memory_budget = memory_budget

    # --- validation -------------------------------------------------------------------------
    def _validate_params(self) -> None:
        check_int(self.n_components, "n_components", low=1)
        check_int(self.output_dim, "output_dim", low=1, allow_none=True)
        check_int(self.epochs, "epochs", low=1)
        check_int(self.batch_size, "batch_size", low=2, allow_none=True)
        check_int(self.patience, "patience", low=1, allow_none=True)
        check_int(self.extraction_samples, "extraction_samples", low=2, allow_none=True)
        check_int(self.extraction_draws, "extraction_draws", low=1)
        check_positive(self.lr, "lr")
        check_positive(self.weight_decay, "weight_decay", allow_zero=True)
        vf = self.validation_fraction
        if not isinstance(vf, int | float) or isinstance(vf, bool) or not 0 <= vf < 1:
            raise ParameterError(f"validation_fraction must be in [0, 1), got {vf!r}")
        if self.patience is not None and vf == 0:
            raise ParameterError("patience (early stopping) needs held-out rows: set "
                                 "validation_fraction > 0")
        if self.objective_params is not None and not isinstance(self.objective_params, dict):
            raise ParameterError("objective_params must be a dict")
        if self.output_dim is not None and self.output_dim < self.n_components:
            raise ParameterError(f"output_dim d₁ = {self.output_dim} must be ≥ n_components "
                                 f"d = {self.n_components}")

    def _resolve_output_dim(self, n_rows: int, batch: int) -> int:
        d = self.n_components
        if self.output_dim is not None:
            d1 = int(self.output_dim)
        else:
            d1 = max(d, min(4 * d, OUTPUT_DIM_CAP, batch))
        if batch < d1:
            raise ParameterError(
                f"the batch ({batch} rows) is smaller than the output dimension d₁ = {d1}: the "
                f"batch covariance of the outputs would be rank-deficient; use batch_size ≥ {d1} "
                f"(or full batch) or a smaller output_dim / n_components")
        if n_rows < d + 2:
            raise ParameterError(f"n = {n_rows} training rows are too few for n_components = "
                                 f"{d} (need n ≥ d + 2)")
        return d1

    # --- fitting ----------------------------------------------------------------------------
    def fit(self, X, y=None) -> ContextureEncoder:
        """Fit the context on (X, y), train the encoder, extract the ordered eigenfunctions."""
        start = time.perf_counter()
        self._validate_params()
        X = check_array(X, what="ContextureEncoder.fit", estimator=self, min_samples=2)
        n = X.shape[0]
        seed = check_seed(self.random_state)
        device = resolve_device(self.device)
        budget = resolve_budget(self.memory_budget)
        context = clone(make_context(self.context))
        context.fit(X, y)
        sampler = ContextSampler(context, X, memory_budget=budget)
        method = make_method(self.objective, self.objective_params)
        method.check(sampler)

        rng = np.random.default_rng(seed)
        rows = np.arange(n)
        val_rows = None
        if self.validation_fraction > 0:
            n_val = max(1, int(round(self.validation_fraction * n)))
            if n - n_val < 2:
                raise ParameterError("validation_fraction leaves fewer than 2 training rows")
            perm = rng.permutation(n)
            val_rows, rows = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        batch = len(rows) if self.batch_size is None else min(int(self.batch_size), len(rows))
        d1 = self._resolve_output_dim(n, batch)
        if val_rows is not None and len(val_rows) < 2:
            raise ParameterError("the validation set needs at least 2 rows")
        method.set_population(sampler, rows)

        features = "phi"
        if method.encodes_context:
            features = "t_psi" if sampler.finite_values() else "psi"
        net_kwargs = dict(architecture=self.architecture, hidden=self.hidden, depth=self.depth,
                          activation=self.activation, skip=self.skip)

        def make_net(in_dim: int, out_dim: int):
            kw = dict(net_kwargs)
            if kw["architecture"] == "cnn" and in_dim != X.shape[1]:
                kw["architecture"] = "mlp"  # e.g. SVME's Ψ on one-hot labels
            return build_network(in_dim=in_dim, out_dim=out_dim, **kw)

        with torch_runtime(self.n_threads):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                modules = method.build(X.shape[1], d1, make_net, sampler)
            _standardize_inputs(modules, X, sampler)
            modules = modules.to(device)
            X_t = to_tensor(X, device)

            def batch_loss(batch_rows, batch_rng):
                return method.loss(modules, sampler, batch_rows, batch_rng, X_t)

            result = train(modules, batch_loss, rows, val_rows, epochs=self.epochs,
                           batch_size=self.batch_size, lr=float(self.lr),
                           weight_decay=float(self.weight_decay), patience=self.patience,
                           seed=seed, verbose=bool(self.verbose),
                           description=f"{method.name} on {sampler.name}")
            self.encoder_ = modules["encoder"]
            self.modules_ = modules
            self.context_ = context
            self.features_ = features
            self.device_ = str(device)
            self._X_fit = X if features == "t_psi" else None
            self._y_fit = (None if y is None or features != "t_psi"
                           else np.asarray(y))
            self._psi_values = None
            self._train_P = sampler.operator().P if features == "t_psi" else None
            self._inference_net = _float64_copy(self.encoder_)
            if features == "t_psi":
                self._psi_on_values()
            self.extraction_ = self._extract(method, sampler, modules, X, rng)

        self.objective_ = method.spec()
        self.output_dim_ = d1
        self.n_components_resolved_ = int(self.extraction_.n_resolved)
        self.eigenvalues_ = self.extraction_.eigenvalues.copy()
        self.singular_values_ = np.sqrt(self.eigenvalues_)
        self.history_ = {"train": list(result.train_loss),
                         "validation": list(result.validation_loss),
                         "best_epoch": result.best_epoch, "stopped_early": result.stopped_early}
        self.n_epochs_ = result.epochs_run
        self.train_time_ = result.seconds
        self.fit_time_ = time.perf_counter() - start
        return self

    # --- features and extraction ------------------------------------------------------------
    def _network(self, net, X: np.ndarray, chunk: int = 8192) -> np.ndarray:
        """The network on rows X, in the network's own precision (float64 for inference)."""
        param = next(net.parameters())
        out = []
        net.eval()
        with torch.no_grad():
            for s in range(0, X.shape[0], chunk):
                x = torch.as_tensor(np.array(X[s:s + chunk], dtype=np.float64, order="C"),
                                    dtype=param.dtype, device=param.device)
                out.append(to_numpy(net(x)))
        return np.concatenate(out) if out else np.zeros((0, self.output_dim_))

    def _inference(self):
        """The float64 copy of the encoder used for every inference (made at fit and load)."""
        net = getattr(self, "_inference_net", None)
        return net if net is not None else _float64_copy(self.encoder_)

    def _psi_on_values(self) -> np.ndarray:
        if self._psi_values is None:
            self._psi_values = self._network(self._inference(), self._X_fit)
        return self._psi_values

    def _features(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        """Encoder features (n × d₁) of rows X, before extraction (see the module docstring)."""
        if self.features_ == "t_psi":
            psi = self._psi_on_values()
            if training or (X.shape == self._X_fit.shape and np.array_equal(X, self._X_fit)):
                if self._train_P is None:
                    self._train_P = self._fitted_context().operator(
                        memory_budget=resolve_budget(self.memory_budget)).P
                P = self._train_P
            else:
                P = self._fitted_context().transition(X)
            return multiply(P, psi)
        return self._network(self._inference(), X)

    def _fitted_context(self):
        ctx = getattr(self, "context_", None)
        if ctx is None:  # loaded from a file: refit the context on the stored values
            ctx = clone(make_context(self.context))
            ctx.fit(self._X_fit, self._y_fit)
            self.context_ = ctx
        return ctx

    def _extract(self, method, sampler: ContextSampler, modules, X: np.ndarray,
                 rng: np.random.Generator) -> Extraction:
        n = X.shape[0]
        d = self.n_components
        m = n if self.extraction_samples is None else min(int(self.extraction_samples), n)
        rows = np.arange(n) if m == n else np.sort(rng.choice(n, size=m, replace=False))
        train_features = self._features(X, training=True)
        weights = sampler.weights
        kernel_route = ((sampler.access == "kernel" or method.name in ("kise", "nested"))
                        and (self.features_ != "psi") and sampler.has_kernel())
        if kernel_route:
            # A uniform subsample of m rows: the Horvitz–Thompson estimate of B_Φ (unbiased
            # for any P_X); the whole sample: the exact forms.
            kernel = OperatorKernel(sampler.operator(), None if m == n else rows)
            mean, C, B = kernel_matrices(train_features[rows], kernel,
                                         mean=weighted_mean_cov(train_features, weights)[0])
            how = "kernel"
            # On the whole sample B = Φ̃ᵀ W G W Φ̃ ≤ C exactly (T T* ≤ I), so even tiny
            # directions of C give valid Ritz values; estimates keep a larger threshold.
            rcond = EXACT_RCOND if m == n else ESTIMATE_RCOND
        else:
            # Sample access: two independent views per row, in the space of the network that
            # encodes the context variable (Ψ: the trained network itself, or SVME's second
            # encoder Ψ ≈ T*Φ, whose coefficients then apply to Φ). The functions are centred
            # on the training rows' features (what transform applies them to), not on the views.
            r = int(self.extraction_draws)
            svme = method.name == "svme"
            psi_net = (_float64_copy(modules["context_encoder"]) if svme
                       else self._inference_net)
            za = np.stack([self._network(psi_net, sampler.sample(rows, rng)) for _ in range(r)])
            zb = np.stack([self._network(psi_net, sampler.sample(rows, rng)) for _ in range(r)])
            w_rows = None if weights is None else weights[rows]
            _, C, B = view_matrices(za, zb, w_rows)
            mean = weighted_mean_cov(train_features, weights)[0]
            how = "svme-views" if svme else "views"
            rcond = ESTIMATE_RCOND
        w_rows = np.full(m, 1.0 / m) if weights is None else weights[rows]
        diagonal = kernel_diagonal(sampler.operator(), rows) if kernel_route else None
        floor = noise_floor(w_rows, diagonal)
        lam, V, rank, _ = resolve(B, C, d, floor, rcond=rcond)
        return finalize(mean, V, lam, C, B, m, how, rank, train_features=train_features,
                        train_weights=weights, floor=floor)

    # --- transform --------------------------------------------------------------------------
    def transform(self, X) -> np.ndarray:
        """μ̂_1..μ̂_k at the rows of X, k = ``n_components_resolved_`` ≤ n_components (ordered by
        the estimated s_i², unit variance on the training rows).

        Row-wise: the network runs in float64, so a row's output does not depend on the other
        rows passed with it or on the input's float precision.
        """
        check_is_fitted(self, "extraction_")
        X = check_array(X, what="ContextureEncoder", estimator=self, reset=False)
        with torch_runtime(self.n_threads):
            return self.extraction_.apply(self._features(X))

    def features(self, X) -> np.ndarray:
        """The raw encoder features (n × d₁) of X, before extraction."""
        check_is_fitted(self, "extraction_")
        X = check_array(X, what="ContextureEncoder", estimator=self, reset=False)
        with torch_runtime(self.n_threads):
            return self._features(X)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Output names ``mu1``, ``mu2``, … (one per column of ``transform``).

        ``input_features``, when given, must match the names seen at fit (or have one entry per
        input feature); it does not change the output names.
        """
        check_is_fitted(self, "extraction_")
        if input_features is not None:
            names = np.asarray(input_features, dtype=object)
            seen = getattr(self, "feature_names_in_", None)
            if seen is not None and not np.array_equal(names, seen):
                raise ParameterError("input_features is not equal to feature_names_in_")
            if names.shape != (self.n_features_in_,):
                raise ParameterError(f"input_features should have length equal to the number "
                                     f"of features ({self.n_features_in_}), got {len(names)}")
        k = int(self.extraction_.n_resolved)
        return np.asarray([f"mu{i + 1}" for i in range(k)], dtype=object)

    # --- persistence ------------------------------------------------------------------------
    def save(self, path) -> None:
        """Write the fitted encoder to the directory ``path`` (safetensors weights + JSON)."""
        from .io import save_encoder

        save_encoder(self, path)

    @classmethod
    def load(cls, path) -> ContextureEncoder:
        """Read an encoder written by :meth:`save`; never unpickles (see ``encoders.io``)."""
        from .io import load_encoder

        return load_encoder(path)
