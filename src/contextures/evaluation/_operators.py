"""The operator an evaluation function works on: a :class:`ContextOperator` or a fitted context."""

from __future__ import annotations

from ..exceptions import ParameterError


def operator_of(op):
    """A :class:`ContextOperator` from an operator or a fitted context (``.operator()``)."""
    from ..contexts.operator import ContextOperator

    if isinstance(op, ContextOperator):
        return op
    make = getattr(op, "operator", None)
    if callable(make):
        result = make()
        if isinstance(result, ContextOperator):
            return result
    raise ParameterError(
        f"expected a ContextOperator or a fitted context, got {type(op).__name__}"
    )
