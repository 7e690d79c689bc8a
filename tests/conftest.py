"""Fixtures shared by several test modules.

- ``abalone``: the bundled abalone data prepared with ``split_seed=0`` (one per test module);
- ``package_only``: no data directory at all (``CONTEXTURES_DATA`` unset, an empty per-user
  directory) and a working directory outside the repository, so only what the package ships loads;
- ``shared_data``: the project's shared datasets folder as ``CONTEXTURES_DATA`` (skipped when absent);
- ``one_thread``: BLAS limited to one thread for the duration of a test;
- ``sample``: 40 standard-normal points in 3 dimensions (seed 0).
"""

import os
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

SHARED_DATA = Path(os.environ.get("CONTEXTURES_DATA")
                   or Path(__file__).resolve().parents[2] / "shared" / "datasets")


@pytest.fixture(scope="module")
def abalone():
    from contextures.datasets import prepare
    return prepare("abalone", split_seed=0)


@pytest.fixture
def package_only(monkeypatch, tmp_path):
    monkeypatch.delenv("CONTEXTURES_DATA", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def shared_data(monkeypatch):
    if not (SHARED_DATA / "manifest.csv").is_file():
        pytest.skip("the shared datasets folder is not available (set CONTEXTURES_DATA)")
    monkeypatch.setenv("CONTEXTURES_DATA", str(SHARED_DATA))
    return SHARED_DATA


@pytest.fixture
def one_thread():
    with threadpool_limits(1):
        yield


@pytest.fixture
def sample():
    return np.random.default_rng(0).normal(size=(40, 3))
