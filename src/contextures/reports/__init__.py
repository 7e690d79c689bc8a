"""Reports: figures (matplotlib, Agg canvas, no pyplot state) and markdown writers.

- :mod:`contextures.reports.figures`: τ against error scatter plots coloured by context family,
  spectra s_i² against i, τ_d curves beside err_d curves;
- :mod:`contextures.reports.markdown`: number formatting and GitHub-flavoured markdown tables.
"""

from .figures import FAMILY_COLOURS, spectra_plot, tau_error_curves, tau_error_scatter
from .markdown import fmt, markdown_table

__all__ = [
    "FAMILY_COLOURS",
    "fmt",
    "markdown_table",
    "spectra_plot",
    "tau_error_curves",
    "tau_error_scatter",
]
