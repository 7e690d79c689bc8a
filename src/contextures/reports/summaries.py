"""The markdown documents of the studies, each a pure function of its study's summary.

Every figure a document refers to is named with a caption (what is drawn, against what, in which
units), so that the report reads without the code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _g4(value: Any) -> str:
    return "—" if value is None else f"{value:.4g}"


# --- mixing -------------------------------------------------------------------------------------
MIXING_CAPTION = (
    "Figure `mixing.png`: per dataset, the test error of the best mixture and of the two "
    "raw-feature baselines (ridge, boosted trees), each divided by the test error of the best "
    "single context (a ratio; below 1 is better than the best single context; log scale).")


def mixing_table(summary: Mapping[str, Any]) -> str:
    """Markdown: per dataset, best single vs best mixture vs baselines (test error)."""
    lines = ["| dataset | best single | error | best mixture | error | gain | ridge | gbt |",
             "|---|---|---|---|---|---|---|---|"]
    for r in summary["datasets"]:
        gain = r.get("mixture_gain")
        lines.append(f"| {r['dataset']} | `{r['best_single']}` | {_g4(r['single_error'])} | "
                     f"`{r['best_mixture']}` | {_g4(r['mixture_error'])} | "
                     f"{'—' if gain is None else f'{100 * gain:+.1f}%'} | "
                     f"{_g4(r.get('ridge_error'))} | {_g4(r.get('gbt_error'))} |")
    lines.append("")
    lines.append(f"Best mixture beats best single context on {summary['mixture_wins']} of "
                 f"{summary['n_datasets']} datasets; median relative gain "
                 f"{_g4(summary['median_relative_gain'])}.")
    for f in summary["failed"]:
        lines.append(f"- failed: {f['dataset']} / {f['candidate']}: {f['error']}")
    lines += ["", MIXING_CAPTION]
    return "\n".join(lines) + "\n"
