"""Contexts P⁺(a | x): samplers and finite-sample operators, built from spec strings.

Built-in contexts (spec names): ``knn``, ``rbf``, ``knn_mask``, ``rbf_mask``, ``label``,
``graph``, ``scarf``, ``noise``, ``cutmix``, ``teacher``, ``crop``, and the mixtures ``conv``, ``mix``, ``concat``. A :class:`ContextCache`
shares neighbour lists and distance matrices between contexts fitted on the same sample.
"""

from .base import Context, make_context, register_context, registered_contexts
from .operator import ContextOperator, MatrixFreeTransition

# importing the modules registers the built-in contexts
from .cache import ContextCache  # noqa: E402  isort: skip
from .knn import KNNContext  # noqa: E402  isort: skip
from .rbf import RBFContext  # noqa: E402  isort: skip
from .masked import KNNMaskContext, RBFMaskContext  # noqa: E402  isort: skip
from .label import LabelContext  # noqa: E402  isort: skip
from .graph import GraphContext  # noqa: E402  isort: skip
from .scarf import ScarfContext  # noqa: E402  isort: skip
from .noise import NoiseContext  # noqa: E402  isort: skip
from .cutmix import CutmixContext  # noqa: E402  isort: skip
from .teacher import TeacherContext  # noqa: E402  isort: skip
from .crop import CropContext  # noqa: E402  isort: skip
from .mixtures import (  # noqa: E402  isort: skip
    ConcatenationContext,
    ConvolutionContext,
    MixtureContext,
)

__all__ = [
    "ConcatenationContext",
    "ConvolutionContext",
    "MixtureContext",
    "Context",
    "ContextCache",
    "ContextOperator",
    "CropContext",
    "CutmixContext",
    "GraphContext",
    "KNNContext",
    "KNNMaskContext",
    "LabelContext",
    "MatrixFreeTransition",
    "NoiseContext",
    "RBFContext",
    "RBFMaskContext",
    "ScarfContext",
    "TeacherContext",
    "make_context",
    "register_context",
    "registered_contexts",
]
