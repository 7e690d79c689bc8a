"""Tables of ``contextures bench encoders`` (see :mod:`contextures.experiments.encoder_bench`):
CCA R² with the exact contexture per objective and variant, and the subsample estimates of B_Φ.
"""

from __future__ import annotations


def fmt(r: dict) -> str:
    """mean ± sd of a score over seeds."""
    return f"{r['mean']:.3f} ± {r['sd']:.3f}"


def table(rows, head: str) -> str:
    """One markdown table: objective, variant, CCA R², resolved columns, seconds per fit."""
    lines = [f"| objective | {head} | CCA R² with the exact contexture | resolved | s per fit |",
             "|---|---|---|---:|---:|"]
    for objective, variant, r in rows:
        lo, hi = min(r["resolved"]), max(r["resolved"])
        resolved = f"{lo}" if lo == hi else f"{lo}–{hi}"
        lines.append(f"| {objective} | {variant} | {fmt(r)} | {resolved} | "
                     f"{r['seconds']:.1f} |")
    return "\n".join(lines)


def section_markdown(result: dict, command: str) -> str:
    """The markdown section of ``contextures bench encoders`` (all four sections A–D)."""
    a_info, a_rows = result["A"]
    c_info, c_rows = result["C"]
    d_info, d_rows = result["D"]
    seeds = result["seeds"]
    b_lines = ["| m | estimate | mean of B̂_ii over 400 draws (i = 1..4) | exact s_i² | "
               "mean abs. bias |", "|---|---|---|---|---|"]
    for r in result["B"]:
        b_lines.append(f"| {r['m']} | {r['estimate']} | "
                       f"{', '.join(f'{v:.3f}' for v in r['mean_B_diag'])} | "
                       f"{', '.join(f'{v:.3f}' for v in r['exact'])} | "
                       f"{r['mean_abs_bias']:.3f} |")
    return f"""## Encoders under weights and batches: `{command}`

(The same as `python benchmarks/encoders_weights.py --seeds 3 --threads 1`.) Every score is the CCA R² (mean squared canonical correlation, in L²(P_X)) between the encoder's
extracted functions and the exact top-d eigenfunctions of the same sample, mean ± sd over
{seeds} seeds; "untrained" is the same encoder after one epoch at lr = 1e-12 (what the extraction
alone reaches); "resolved" is `n_components_resolved_`. Raw figures:
`benchmarks/results/encoders/encoders_weights.json` ({result['machine']}, torch threads
{result['threads']}, {result['seconds']:.0f} s in all).

**A. Mini-batch KISE and nested loss on a weighted kNN graph** (n = {a_info['n']}, 4-D, k = 20,
P_X ∝ degree with degree ratio {a_info['degree_ratio']:.0f}; d = 4, d₁ = 16; full batch 600
epochs at lr 1e-2, batch 64 100 epochs at lr 3e-3). Top s²:
{', '.join(f'{v:.3f}' for v in a_info['s2_top5'])}.

{table(a_rows, 'training')}

**B. Subsample extraction on the same graph**: B_Φ of the exact μ_1..μ_4 estimated from m
uniformly drawn rows.

{chr(10).join(b_lines)}

**C. Laplacian eigenmaps on rbf(gamma=median)** (400 anisotropic Gaussian points in 3-D, uniform
P_X, which the RBF transition is not reversible under; d = 4, d₁ = 8, 800 epochs). Top s²:
{', '.join(f'{v:.3f}' for v in c_info['s2_top5'])}.

{table(c_rows, 'edges')}

**D. P_X in the sample objectives** (hub graph, n = {d_info['n']}, degree ratio
{d_info['degree_ratio']:.0f}; d = 3; DAE d = 1, scored against its closed-form optimum). The exact
spans under uniform P_X and under P_X have CCA R² {d_info['span_uniform_vs_pi']:.3f}; the DAE
optima {d_info['dae_optimum_uniform_vs_pi']:.3f}.

{table(d_rows, 'weights')}
"""
