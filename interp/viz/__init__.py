"""Visualisation: circuitsvis attention views and self-contained HTML reports, both offline."""

from .attention import (
    RELEVANT_MARK,
    AttentionView,
    OfflineAttention,
    attention_views,
    show_attention,
    side_by_side,
    to_props,
)
from .report import render_report, write_report

__all__ = [
    "RELEVANT_MARK",
    "AttentionView",
    "OfflineAttention",
    "attention_views",
    "render_report",
    "show_attention",
    "side_by_side",
    "to_props",
    "write_report",
]
