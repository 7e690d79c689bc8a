"""The studies: each one a list of cells run on :mod:`contextures.runner`, then summarised.

The correlation study (τ against the probe error), the context selector behind ``contextures
run``, mixing, alignment, estimation, the out-of-sample extension check and semi-supervised
learning.
"""
