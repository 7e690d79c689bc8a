"""Write the synthetic 10⁶-row regression table the large-table runs use (seeded, reproducible).

20 Gaussian clusters in 8 dimensions (centres N(0, 3²)), unit-variance noise around each, and the
target y = sin(x₀) + 0.5 x₁ + 0.1 ε. Usage: ``python benchmarks/make_big_table.py OUT.parquet``.
"""

import sys

import numpy as np
import pandas as pd


def big_table(n: int = 1_000_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, 8)) * 3
    X = centres[rng.integers(0, 20, n)] + rng.normal(size=(n, 8))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] + 0.1 * rng.normal(size=n)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(8)])
    frame["y"] = y
    return frame


if __name__ == "__main__":
    big_table().to_parquet(sys.argv[1])
