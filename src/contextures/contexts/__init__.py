"""Contexts P⁺(a | x): samplers and finite-sample operators, built from spec strings."""

from .base import Context, make_context, register_context, registered_contexts
from .operator import ContextOperator, MatrixFreeTransition

__all__ = [
    "Context",
    "ContextOperator",
    "MatrixFreeTransition",
    "make_context",
    "register_context",
    "registered_contexts",
]
