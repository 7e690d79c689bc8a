"""The correlation study's datasets and per-dataset plans, and the paper's Table 1 beside them.

A :class:`DatasetPlan` is what the study does with one dataset (rows, fitting sample, d₀, the
context grid), computed in the calling process before the cells are built; a dataset that does
not load is recorded as failed and the others go on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ..exceptions import ParameterError
from .encoding import fitting_sample, load_prepared
from .strengths import strength_grid

if TYPE_CHECKING:
    from .correlation import CorrelationSettings

QUICK_DATASETS = ("abalone", "sklearn:breast_cancer", "sklearn:diabetes")
"""The ``--quick`` profile's datasets: bundled or shipped with scikit-learn (no network)."""

PAPER_TABLE1 = {
    # the paper's dataset name -> (Pearson, distance correlation), [ICML] Table 1
    "abalone": (0.028, 0.470), "diabetes": (0.737, 0.740), "Wine": (-0.084, 0.212),
    "credit-approval": (0.583, 0.683), "cmc": (0.867, 0.860), "splice": (0.831, 0.801),
    "kr-vs-kp": (0.543, 0.512), "spambase": (0.775, 0.858), "mushroom": (0.185, 0.340),
    "breast-w": (0.072, 0.255), "health_insurance": (0.601, 0.749),
    "cps88wages": (0.250, 0.479),
}
OFFLINE_TO_PAPER = {
    # offline-suite dataset name -> the paper's Table 1 dataset (the manifest's paper_table1)
    "abalone": "abalone", "diabetes": "diabetes", "wine_quality_red": "Wine",
    "credit_approval": "credit-approval", "cmc": "cmc", "splice": "splice",
    "kr_vs_kp": "kr-vs-kp", "spambase": "spambase", "mushroom": "mushroom",
    # MASS/biopsy is breast-w (699 × 9); sklearn's breast_cancer is WDBC (569 × 30), other data.
    # Ecdat/HI is the paper's 22 272-row regression table; AER's HealthInsurance is another one.
    "biopsy": "breast-w", "HI": "health_insurance",
    "CPS1988": "cps88wages",
}
PAPER_SUMMARY = {"pearson_mean": 0.431, "pearson_median": 0.587, "dcor_mean": 0.611,
                 "dcor_median": 0.659, "n_datasets": 28}


def paper_dataset(spec: str) -> str | None:
    """The paper's Table 1 dataset that a dataset spec loads, or None.

    Matched by spec, not by name (``sklearn:diabetes`` is not the paper's Pima ``diabetes``):
    the offline suite's specs map through :data:`OFFLINE_TO_PAPER`, the paper28 suite's OpenML
    task specs to their own names.
    """
    from ..datasets import suite

    for member in suite("offline"):
        if member.spec == spec:
            return OFFLINE_TO_PAPER.get(member.name)
    for member in suite("paper28"):
        if member.spec == spec:
            return member.name if member.name in PAPER_TABLE1 else None
    return None



@dataclass(frozen=True)
class DatasetEntry:
    """A dataset of the study: its short name, spec and (optional) known task."""

    name: str
    spec: str
    task: str | None = None


def _short_name(spec: str) -> str:
    body = spec.split(":", 1)[1] if ":" in spec else spec
    body = body.split(":", 1)[0]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", body.rsplit("/", 1)[-1]).strip("_")
    return name or "dataset"


def resolve_datasets(*, suite: str | None = None, data: Sequence[str] = (),
                     quick: bool = False) -> list[DatasetEntry]:
    """The datasets of a run: a suite, explicit specs, or the quick profile's three.

    ``suite`` and ``data`` are exclusive; with neither, ``quick`` picks :data:`QUICK_DATASETS`
    and otherwise the ``offline`` suite is used. ``--quick`` with a suite keeps its first 3.
    """
    from ..datasets import suite as get_suite

    if suite is not None and data:
        raise ParameterError("give either --suite or --data, not both")
    if data:
        entries = [DatasetEntry(_short_name(s), s) for s in data]
    elif suite is not None:
        members = get_suite(suite)
        entries = [DatasetEntry(m.name, m.spec, m.task) for m in members]
        if quick:
            entries = entries[:3]
    elif quick:
        entries = [DatasetEntry(_short_name(s), s) for s in QUICK_DATASETS]
    else:
        entries = [DatasetEntry(m.name, m.spec, m.task) for m in get_suite("offline")]
    seen: dict[str, int] = {}
    unique = []
    for entry in entries:
        count = seen.get(entry.name, 0)
        seen[entry.name] = count + 1
        unique.append(entry if count == 0 else replace(entry, name=f"{entry.name}_{count + 1}"))
    return unique


# --- planning: per dataset, in the calling process ----------------------------------------------
@dataclass
class DatasetPlan:
    """What the study does with one dataset (or why it cannot)."""

    entry: DatasetEntry
    status: str = "ok"
    error: str | None = None
    task: str | None = None
    n_rows: int = 0
    n_pretrain: int = 0
    n_fit: int = 0
    n_train: int = 0
    n_test: int = 0
    d0: int = 0
    specs: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def contexts(self) -> list[str]:
        return [spec for family in self.specs.values() for spec in family]

    def protocol(self, settings: CorrelationSettings) -> str:
        """One sentence: what was fitted where."""
        if self.status != "ok":
            return f"failed: {self.error}"
        rows = (f"{self.n_rows} rows (capped at max_rows = {settings.max_rows})"
                if settings.max_rows is not None and self.n_rows >= settings.max_rows
                else f"{self.n_rows} rows")
        fitted = (f"fitted on a seeded subsample of {self.n_fit} of the {self.n_pretrain} "
                  "pretrain rows" if self.n_fit < self.n_pretrain
                  else f"fitted on all {self.n_pretrain} pretrain rows")
        return (f"{rows}; {fitted}; d0 = {self.d0}; μ extended to {self.n_train} downstream-train "
                f"and {self.n_test} test rows")


def plan_dataset(entry: DatasetEntry, settings: CorrelationSettings) -> DatasetPlan:
    """Load one dataset and build its context grid; a loading failure is recorded, not raised."""
    plan = DatasetPlan(entry)
    try:
        data = load_prepared(entry.spec, entry.task, settings.split_seed, settings.max_rows)
        if data.task not in ("regression", "classification") or data.y_train is None:
            raise ParameterError(f"dataset {entry.spec!r} has no target: the probe needs one")
        n_pre = int(data.X_pre.shape[0])
        n_fit = min(settings.n_fit, n_pre)
        d0 = min(settings.d0, n_fit - 2)
        count = min(settings.strengths, n_fit - 1)
        if d0 < 2:
            raise ParameterError(f"{n_pre} pretrain rows are too few (need ≥ 4)")
        key = _sample_key(entry, settings)
        X_fit = fitting_sample(data, settings.n_fit, settings.fit_seed, key)
        plan.specs = strength_grid(X_fit, count, settings.families, p=settings.mask_p,
                                   masks=settings.masks)
        plan.task = data.task
        plan.n_rows = data.n_rows
        plan.n_pretrain = n_pre
        plan.n_fit = n_fit
        plan.n_train = int(data.X_train.shape[0])
        plan.n_test = int(data.X_test.shape[0])
        plan.d0 = d0
        plan.notes = list(data.notes)
        if d0 < settings.d0:
            plan.notes.append(f"d0 lowered to n_fit − 2 = {d0}")
        if count < settings.strengths:
            plan.notes.append(f"only {count} strengths per family (n_fit = {n_fit})")
    except Exception as exc:  # any loading failure: recorded, the other datasets continue
        plan.status = "failed"
        plan.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        plan.specs = {}
    return plan


def _sample_key(entry: DatasetEntry, settings: CorrelationSettings) -> tuple:
    return (entry.spec, entry.task, settings.split_seed, settings.max_rows)




def paper_values(spec: str) -> tuple[str, float, float] | None:
    """(the paper's dataset, its Pearson, its distance correlation) for a spec, or None."""
    name = paper_dataset(spec)
    if name is None or name not in PAPER_TABLE1:
        return None
    return (name, *PAPER_TABLE1[name])
