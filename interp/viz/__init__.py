"""Everything the toolkit renders: circuitsvis attention views, figures, claims tables and the
self-contained HTML reports, all offline. Analyses and experiments hand over data; this package draws it.
"""

from ..plot import Plot
from .attention import (
    RELEVANT_MARK,
    AttentionView,
    OfflineAttention,
    attention_views,
    show_attention,
    side_by_side,
    to_props,
)
from .claims import claims_html, claims_markdown, claims_text, show_claims
from .figures import draw
from .report import render_report, write_model_report, write_report

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
