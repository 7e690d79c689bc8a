"""Encoder networks: an MLP for tabular inputs and a small CNN for square image crops.

Both map a batch of flattened inputs (m × F) to outputs (m × d₁) and are built from a plain dict of
hyperparameters (:func:`build_network`), which is what the model files store. Both first
standardise their input, x ↦ (x − shift) / scale, with per-feature buffers that the estimator sets
from the training rows (identity until then), so training does not depend on the offset and scale
of the data (Tanh units saturate on raw features of size 100).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..exceptions import ParameterError

ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU}


def _activation(name: str) -> nn.Module:
    try:
        return ACTIVATIONS[str(name).lower()]()
    except KeyError:
        raise ParameterError(
            f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}") from None


def _positive_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ParameterError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    return value


class _Standardized(nn.Module):
    """Holds the ``shift`` and ``scale`` buffers (F,) and applies (x − shift) / scale."""

    def _init_standardization(self, in_dim: int) -> None:
        self.register_buffer("shift", torch.zeros(in_dim))
        self.register_buffer("scale", torch.ones(in_dim))

    def set_standardization(self, shift, scale) -> None:
        """Per-feature shift and scale (scale > 0) of the inputs."""
        with torch.no_grad():
            self.shift.copy_(torch.as_tensor(shift, dtype=self.shift.dtype))
            self.scale.copy_(torch.as_tensor(scale, dtype=self.scale.dtype))

    def standardize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift) / self.scale


class MLP(_Standardized):
    """x̂ = (x − shift) / scale; h₁ = act(W₁x̂ + b₁); h_{l+1} = h_l + act(W_{l+1} h_l + b_{l+1}) (skip) or act(...) (no skip);
    output = W_out h_depth + b_out.

    ``depth`` counts hidden layers (each ``hidden`` wide); ``skip`` adds the identity around every
    hidden layer after the first (residual connections, as in the paper's Tanh + skip MLPs).
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 512, depth: int = 3,
                 activation: str = "tanh", skip: bool = True):
        super().__init__()
        _positive_int("in_dim", in_dim)
        _positive_int("out_dim", out_dim)
        _positive_int("hidden", hidden)
        _positive_int("depth", depth)
        self.skip = bool(skip)
        self._init_standardization(in_dim)
        self.input = nn.Linear(in_dim, hidden)
        self.hidden = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(depth - 1))
        self.act = _activation(activation)
        self.output = nn.Linear(hidden, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.input(self.standardize(x)))
        for layer in self.hidden:
            z = self.act(layer(h))
            h = h + z if self.skip else z
        return self.output(h)


class SmallCNN(_Standardized):
    """A small CNN for side × side single-channel images given flattened (8×8 digit crops).

    conv3×3(1→c₁) → act → conv3×3(c₁→c₂) → act → 2×2 average pool → flatten →
    linear(→hidden) → act → linear(→out_dim). Padding keeps the side; the pool halves it.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 128, channels: int = 16,
                 activation: str = "relu"):
        super().__init__()
        side = math.isqrt(int(in_dim))
        if side * side != in_dim or side < 2:
            raise ParameterError(
                f"the CNN expects square single-channel images (F = side²), got F = {in_dim}")
        _positive_int("out_dim", out_dim)
        _positive_int("hidden", hidden)
        _positive_int("channels", channels)
        self.side = side
        self._init_standardization(in_dim)
        self.conv1 = nn.Conv2d(1, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, 2 * channels, 3, padding=1)
        self.pool = nn.AvgPool2d(2)
        self.act = _activation(activation)
        flat = 2 * channels * (side // 2) ** 2
        self.fc = nn.Linear(flat, hidden)
        self.output = nn.Linear(hidden, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.standardize(x).reshape(-1, 1, self.side, self.side)
        h = self.act(self.conv1(h))
        h = self.pool(self.act(self.conv2(h)))
        h = self.act(self.fc(h.flatten(1)))
        return self.output(h)


ARCHITECTURES = ("mlp", "cnn")


def build_network(architecture: str, in_dim: int, out_dim: int, hidden: int = 512,
                  depth: int = 3, activation: str = "tanh", skip: bool = True) -> nn.Module:
    """The network named by ``architecture`` (``"mlp"`` or ``"cnn"``); the CNN ignores depth/skip."""
    arch = str(architecture).lower()
    if arch == "mlp":
        return MLP(in_dim, out_dim, hidden=hidden, depth=depth, activation=activation, skip=skip)
    if arch == "cnn":
        return SmallCNN(in_dim, out_dim, hidden=hidden, activation=activation)
    raise ParameterError(f"unknown architecture {architecture!r}; choose one of "
                         f"{', '.join(ARCHITECTURES)}")
