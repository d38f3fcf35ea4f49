"""Attention-pattern views rendered with circuitsvis, offline.

circuitsvis's own HTML (``str(h)``, and ``_repr_html_`` whenever google.com answers) imports its
JavaScript from a CDN, so a saved notebook or report shows nothing offline. Here the wheel's
``dist/cdn/iife.js`` bundle is inlined instead, once per page (report) or once per output
(notebook), and each view is a ``<div>`` that ``CircuitsVis.render`` fills in: the same thing
``circuitsvis.utils.render.render_local`` does, without repeating the 1.3 MB bundle per plot.
"""

from __future__ import annotations

import functools
import html
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import torch
from torch import Tensor
from transformer_lens.utilities import get_act_name

from ..models.encoder_decoder import EncoderDecoder
from ..naming import head_label

if TYPE_CHECKING:
    from ..tasks import Batch, Task

RELEVANT_MARK = "*"
COMPONENT = "AttentionHeads"
VIEW_CLASS = "cv-attention"  # the element the browser test measures
_DECIMALS = 4  # attention weights beyond this precision only bloat the page


@dataclass
class AttentionView:
    """The attention of one layer's heads on one example.

    title:      caption shown above the view
    tokens:     ``[pos]`` position labels
    pattern:    ``[heads, dest, src]`` attention probabilities
    head_names: ``[heads]`` names, e.g. ``L0H1``
    causal:     True masks the upper triangle (dest may not see later src)
    relevant:   optional ``[src]`` bool: positions the theory says matter, marked in the labels
    """

    title: str
    tokens: list[str]
    pattern: Tensor
    head_names: list[str]
    causal: bool
    relevant: Tensor | None = None

    def __post_init__(self) -> None:
        self.pattern = torch.as_tensor(self.pattern).detach().cpu().float()
        if self.pattern.ndim != 3:
            raise ValueError(f"pattern must be [heads, dest, src], got shape {tuple(self.pattern.shape)}")
        heads, dest, src = self.pattern.shape
        if dest != src or src != len(self.tokens):
            raise ValueError(f"pattern {tuple(self.pattern.shape)} does not match {len(self.tokens)} tokens")
        if len(self.head_names) != heads:
            raise ValueError(f"{len(self.head_names)} head names for {heads} heads")
        if self.relevant is not None:
            self.relevant = torch.as_tensor(self.relevant).detach().cpu().bool()
            if self.relevant.shape != (src,):
                raise ValueError(f"relevant must be [src={src}], got shape {tuple(self.relevant.shape)}")

    def labels(self) -> list[str]:
        """Token labels with the relevant positions suffixed by ``RELEVANT_MARK`` (never twice)."""
        if self.relevant is None:
            return list(self.tokens)
        return [
            t + RELEVANT_MARK if keep and not t.endswith(RELEVANT_MARK) else t
            for t, keep in zip(self.tokens, self.relevant.tolist())
        ]


def to_props(view: AttentionView) -> dict[str, Any]:
    """Props of circuitsvis's ``AttentionHeads`` React component (JS names, JSON-ready values).

    The colour scale is circuitsvis's fixed default (0 white, 1 full), so views shown side by
    side compare directly.
    """
    rounded = view.pattern.double().mul(10**_DECIMALS).round().div(10**_DECIMALS)
    return {
        "attention": rounded.tolist(),
        "tokens": view.labels(),
        "attentionHeadNames": list(view.head_names),
        # circuitsvis masks the upper triangle unless told otherwise; wrong for bidirectional models
        "maskUpperTri": bool(view.causal),
    }


# --- building views from a model -------------------------------------------------------------


def pattern_hook(layer: int) -> str:
    return get_act_name("pattern", layer)


def relevant_positions(batch: "Batch", index: int, readout: int | None = None) -> Tensor:
    """``[pos]`` bool: what readout ``readout`` must attend to, or the union over all readouts."""
    relevant = batch.relevant[index].bool()  # [n_readout, pos]
    return relevant.any(dim=0) if readout is None else relevant[readout]


def attention_views(
    model: Any,
    task: "Task",
    batch: "Batch",
    index: int = 0,
    layers: Sequence[int] | None = None,
    title_prefix: str = "",
    readout: int | None = None,
) -> list[AttentionView]:
    """One view per layer of ``model``'s attention on example ``index`` of ``batch``.

    ``model`` is a TransformerLens ``TransformerBridge`` (a trained model or a construction), or an
    encoder-decoder (``encoder_decoder_views``); ``layers`` defaults to all; relevant positions are those of
    ``readout`` (all readouts if None).
    """
    n_layers = model.cfg.n_layers
    layers = list(range(n_layers)) if layers is None else list(layers)
    bad = [layer for layer in layers if not 0 <= layer < n_layers]
    if bad:
        raise ValueError(f"layers {bad} out of range for a {n_layers}-layer model")
    if isinstance(model, EncoderDecoder):
        return encoder_decoder_views(model, task, batch, index, layers, title_prefix, readout)
    hooks = [pattern_hook(layer) for layer in layers]
    with torch.no_grad():
        _, cache = model.run_with_cache(batch.inputs[index : index + 1], names_filter=hooks)
    tokens = task.token_labels(batch, index)
    relevant = relevant_positions(batch, index, readout)
    causal = model.cfg.attention_dir == "causal"
    return [
        AttentionView(
            title=f"{title_prefix}layer {layer}",
            tokens=tokens,
            pattern=cache[pattern_hook(layer)][0],
            head_names=[head_label(layer, h) for h in range(model.cfg.n_heads)],
            causal=causal,
            relevant=relevant,
        )
        for layer in layers
    ]


def encoder_decoder_views(model: Any, task: "Task", batch: "Batch", index: int, layers: Sequence[int],
                          title_prefix: str = "", readout: int | None = None) -> list[AttentionView]:
    """An encoder-decoder's attention on example ``index``: per layer, the encoder's self-attention over its own
    positions (``blocks.{l}.attn.hook_pattern``, the sequence's first ones, labelled with their tokens), then the
    decoder's cross-attention (``decoder.{l}.cross_attn.hook_pattern``, ``[head, prompt, encoder]``) drawn on the
    whole sequence: the rows of the prompt's tokens (``Q1@..``) over the columns of the encoder's, every other
    cell 0. Heads are named ``encoder L0H0`` and ``cross-attention L0H0``."""
    encoder, cross = [pattern_hook(layer) for layer in layers], [f"decoder.{layer}.cross_attn.hook_pattern"
                                                                  for layer in layers]
    with torch.no_grad():
        _, cache = model.run_with_cache(batch.inputs[index : index + 1], names_filter=encoder + cross)
    tokens = task.token_labels(batch, index)
    relevant = relevant_positions(batch, index, readout)
    # The encoder's own keys, where the task names them (counting: BOS and the delimiters), else the readouts'.
    context = getattr(task, "delimiter_context", None)
    encoder_relevant = context(batch)[index].any(0) if context is not None else relevant
    n_heads, size = model.cfg.n_heads, len(tokens)
    views = []
    for layer, enc_hook, cross_hook in zip(layers, encoder, cross):
        enc, rows = cache[enc_hook][0], cache[cross_hook][0]  # [head, n, n], [head, prompt, n]
        n, prompt = enc.shape[-1], rows.shape[1]
        square = rows.new_zeros(n_heads, size, size)
        square[:, size - prompt :, :n] = rows
        views.append(AttentionView(f"{title_prefix}encoder layer {layer}", tokens[:n], enc,
                                   [f"encoder {head_label(layer, h)}" for h in range(n_heads)],
                                   causal=model.cfg.attention_dir == "causal", relevant=encoder_relevant[:n]))
        views.append(AttentionView(f"{title_prefix}cross-attention layer {layer} (rows: the prompt, keys: the encoder)",
                                   tokens, square, [f"cross-attention {head_label(layer, h)}" for h in range(n_heads)],
                                   causal=False, relevant=relevant & (torch.arange(size) < n)))
    return views


# --- HTML ------------------------------------------------------------------------------------

ViewRows = Union[AttentionView, Sequence[AttentionView], Sequence[Sequence[AttentionView]]]

GRID_CSS = f"""
.cv-row {{ display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; margin: 12px 0; }}
.cv-cell {{ flex: 1 1 420px; min-width: 420px; }}
.cv-cell h3 {{ font: 600 15px/1.3 system-ui, sans-serif; margin: 0 0 4px; }}
.{VIEW_CLASS} {{ position: relative; min-height: 40px; }}
"""


@functools.lru_cache(maxsize=1)
def bundle_js() -> str:
    """circuitsvis's browser bundle, safe to inline in a ``<script>`` element.

    ``</script`` only occurs inside JS strings there, where ``<\\/`` means the same; circuitsvis
    instead deletes it, which changes the string. The source-map comment is dropped so no
    tool tries to load the 7 MB map.
    """
    import circuitsvis

    path = Path(circuitsvis.__file__).parent / "dist" / "cdn" / "iife.js"
    js = path.read_text(encoding="utf-8")
    js = re.sub(r"</(script)", r"<\\/\1", js, flags=re.IGNORECASE)
    return "\n".join(line for line in js.splitlines() if not line.startswith("//# sourceMappingURL="))


def bundle_script() -> str:
    return f"<script>\n{bundle_js()}\n</script>"


def _as_rows(views: ViewRows) -> list[list[AttentionView]]:
    if isinstance(views, AttentionView):
        return [[views]]
    views = list(views)
    if all(isinstance(v, AttentionView) for v in views):
        return [views]
    return [[row] if isinstance(row, AttentionView) else list(row) for row in views]


def view_div(view: AttentionView, element_id: str) -> str:
    """A titled ``<div>`` carrying the view's props (HTML-escaped JSON) for ``render_script``."""
    props = html.escape(json.dumps(to_props(view), separators=(",", ":")), quote=True)
    return (
        f'<div class="cv-cell"><h3>{html.escape(view.title)}</h3>'
        f'<div class="{VIEW_CLASS}" id="{element_id}" data-component="{COMPONENT}" data-props="{props}">'
        "</div></div>"
    )


def render_script(element_ids: Sequence[str]) -> str:
    """Render the given view divs (only those: a notebook page may hold earlier outputs)."""
    return (
        "<script>\n"
        f"for (const id of {json.dumps(list(element_ids))}) {{\n"
        "  const el = document.getElementById(id);\n"
        "  CircuitsVis.render(id, CircuitsVis[el.dataset.component], JSON.parse(el.dataset.props));\n"
        "}\n</script>"
    )


def views_html(views: ViewRows, id_prefix: str) -> tuple[str, list[str]]:
    """Rows of side-by-side view divs, and their element ids (``{id_prefix}-{row}-{col}``)."""
    parts, ids = [], []
    for r, row in enumerate(_as_rows(views)):
        cells = []
        for c, view in enumerate(row):
            ids.append(f"{id_prefix}-{r}-{c}")
            cells.append(view_div(view, ids[-1]))
        parts.append(f'<div class="cv-row">{"".join(cells)}</div>')
    return "\n".join(parts), ids


class OfflineAttention:
    """Notebook output of attention views that renders with no network.

    Every output carries the bundle (~1.3 MB), since a notebook's cells may be shown alone or
    out of order; pass several views to one ``show_attention`` call to pay for it once.
    """

    def __init__(self, views: ViewRows):
        self.rows = _as_rows(views)

    def _repr_html_(self) -> str:
        # ids must be unique across every output of the page the notebook is shown in
        body, ids = views_html(self.rows, f"cv-{uuid.uuid4().hex[:12]}")
        return f"<style>{GRID_CSS}</style>\n{body}\n{bundle_script()}\n{render_script(ids)}"

    def __html__(self) -> str:
        return self._repr_html_()


def show_attention(views: ViewRows) -> OfflineAttention:
    """Display attention views in a notebook: one view, a row of views, or rows of views."""
    return OfflineAttention(views)


def side_by_side(
    model: Any,
    reference: Any | None,
    task: "Task",
    batch: "Batch",
    indices: Sequence[int] = (0,),
    names: tuple[str, str] = ("this model", "construction"),
) -> list[list[AttentionView]]:
    """Rows ``[model's view, reference's view]``, one per example and layer, on the same inputs."""
    rows = []
    for index in indices:
        ours = attention_views(model, task, batch, index=index, title_prefix=f"example {index}: {names[0]}, ")
        theirs = (attention_views(reference, task, batch, index=index, title_prefix=f"example {index}: {names[1]}, ")
                  if reference is not None else [])
        for layer, view in enumerate(ours):
            rows.append([view] + ([theirs[layer]] if layer < len(theirs) else []))
    return rows
