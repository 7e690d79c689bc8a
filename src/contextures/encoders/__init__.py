"""Neural encoders that learn the contexture (docs/theory.md §8): objectives, networks, training, extraction.

The estimator :class:`ContextureEncoder` is the entry point; the pieces are usable on their own:
loss modules in :mod:`~contextures.encoders.objectives`, networks in
:mod:`~contextures.encoders.networks`, the training loop in :mod:`~contextures.encoders.training`,
the extraction of ordered eigenfunctions in :mod:`~contextures.encoders.extraction` and model files
in :mod:`~contextures.encoders.io`.
"""

from .estimator import ContextureEncoder
from .extraction import Extraction, solve_generalized
from .io import load_encoder, save_encoder
from .methods import METHODS, make_method
from .networks import MLP, SmallCNN, build_network
from .objectives import (
    KISELoss,
    LaplacianLoss,
    NestedLowRankLoss,
    ReconstructionLoss,
    SpectralContrastiveLoss,
    SupervisedLoss,
    SVMELoss,
    ThesisRegularizer,
    VICRegLoss,
)

OBJECTIVES = tuple(METHODS)

__all__ = [
    "MLP",
    "METHODS",
    "OBJECTIVES",
    "ContextureEncoder",
    "Extraction",
    "KISELoss",
    "LaplacianLoss",
    "NestedLowRankLoss",
    "ReconstructionLoss",
    "SVMELoss",
    "SmallCNN",
    "SpectralContrastiveLoss",
    "SupervisedLoss",
    "ThesisRegularizer",
    "VICRegLoss",
    "build_network",
    "load_encoder",
    "make_method",
    "save_encoder",
    "solve_generalized",
]
