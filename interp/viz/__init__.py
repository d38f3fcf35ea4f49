"""Everything the toolkit renders: circuitsvis attention views, figures, claims tables and the
self-contained HTML reports, all offline. Analyses and experiments hand over data; this package draws it.
"""

from ..lazy import lazy_exports
from ..plot import Plot

# Imported on first use: the command line's text (interp.viz.text) must not load torch with the reports.
__getattr__, __dir__ = lazy_exports(__name__, {
    "draw": ".figures", "render_report": ".report", "write_model_report": ".report", "write_report": ".report",
    **{name: ".attention" for name in ("RELEVANT_MARK", "AttentionView", "OfflineAttention", "attention_views",
                                       "show_attention", "side_by_side", "to_props")},
    **{name: ".claims" for name in ("claims_html", "claims_markdown", "claims_text", "show_claims")}})

__all__ = [
    "RELEVANT_MARK",
    "AttentionView",
    "OfflineAttention",
    "Plot",
    "attention_views",
    "claims_html",
    "claims_markdown",
    "claims_text",
    "draw",
    "render_report",
    "show_attention",
    "show_claims",
    "side_by_side",
    "to_props",
    "write_model_report",
    "write_report",
]
