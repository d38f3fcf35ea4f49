"""Pictures of discovered circuits: the model's edge graph with the found edges drawn, and, when the true
circuit is known, which of them are right (matplotlib, no display needed).

Layout: inputs at the bottom, then per layer a row of heads (each with its q, k, v input ports below it)
and the MLP, the logits at the top. Edge colours: found and true (green), found but not true (red),
true but missed (grey, dashed); without a truth, found edges are black.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..discovery.graph import LOGITS, QKV, Graph, component, split_edge
from ..files import atomic_write

FOUND_TRUE, FOUND_FALSE, MISSED, PLAIN_EDGE = "tab:green", "tab:red", "0.6", "black"
PORT_OFFSET = {"q": -0.22, "k": 0.0, "v": 0.22}


def _positions(graph: Graph) -> dict[str, tuple[float, float]]:
    """Centre of every component box (inputs, heads, MLPs, logits)."""
    width = max(graph.n_heads + (1 if graph.has_mlp else 0), 2)
    pos = {"embed": (width / 2 - (0.6 if graph.has_pos else 0), 0.0)}
    if graph.has_pos:
        pos["pos"] = (width / 2 + 0.6, 0.0)
    row = 1.0
    for layer in range(graph.n_layers):
        for h in range(graph.n_heads):
            pos[f"A{layer}.{h}"] = (h + 0.5 + (width - graph.n_heads - graph.has_mlp) / 2, row)
        if graph.has_mlp:
            pos[f"M{layer}"] = (width - 0.5, row + 0.5)
        row += 1.5
    pos[LOGITS] = (width / 2, row)
    return pos


def _anchor(node: str, pos: dict[str, tuple[float, float]], end: bool) -> tuple[float, float]:
    """Where an edge leaves a sender (top of its box) or enters a receiver (its port, or the box bottom)."""
    x, y = pos[component(node)]
    if end and node.endswith(tuple(f".{k}" for k in QKV)):
        return x + PORT_OFFSET[node.rsplit(".", 1)[1]], y - 0.22
    return x, y + (-0.18 if end else 0.18)


def draw_circuit(graph: Graph, edges: Iterable[str], path: str | Path, title: str = "",
                 truth: Iterable[str] | None = None, truth_heads: Iterable[str] | None = None) -> Path:
    """Draw the circuit ``edges`` of ``graph`` to the PNG ``path``, compared with the true edges ``truth`` or,
    for a trained model, with the heads ``truth_heads`` the analysis names (outlined in green)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch


    edges = set(edges)
    truth = set(truth) if truth is not None else None
    truth_heads = set(truth_heads or ())
    pos = _positions(graph)
    width = max(x for x, _ in pos.values()) + 1
    height = max(y for _, y in pos.values()) + 0.8
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * width + 1), max(4.0, 1.1 * height + 1)))
    used = {component(n) for e in edges for n in split_edge(e)}
    for name, (x, y) in pos.items():
        active = name in used
        outline = FOUND_TRUE if name in truth_heads else "black" if active else "0.75"
        box = FancyBboxPatch((x - 0.32, y - 0.15), 0.64, 0.3, boxstyle="round,pad=0.02",
                             facecolor="#dbe9f6" if active else "white", edgecolor=outline,
                             linewidth=2.0 if name in truth_heads else 1.0)
        ax.add_patch(box)
        ax.text(x, y, name, ha="center", va="center", fontsize=7, color="black" if active else "0.6")
        if name.startswith("A"):
            for kind, dx in PORT_OFFSET.items():
                ax.text(x + dx, y - 0.27, kind, ha="center", va="center", fontsize=5, color="0.4")
    drawn = edges | (truth or set())
    for name in sorted(drawn, key=graph.edge_index.get):
        sender, receiver = split_edge(name)
        if truth is None:
            color, style = PLAIN_EDGE, "-"
        elif name in edges:
            color, style = (FOUND_TRUE if name in truth else FOUND_FALSE), "-"
        else:
            color, style = MISSED, "--"
        arrow = FancyArrowPatch(_anchor(sender, pos, False), _anchor(receiver, pos, True), arrowstyle="-|>",
                                mutation_scale=7, color=color, linestyle=style, linewidth=1.0,
                                connectionstyle="arc3,rad=0.12", alpha=0.85)
        ax.add_patch(arrow)
    if truth is not None:
        handles = [plt.Line2D([], [], color=FOUND_TRUE, label="found, in the truth"),
                   plt.Line2D([], [], color=FOUND_FALSE, label="found, not in the truth"),
                   plt.Line2D([], [], color=MISSED, linestyle="--", label="in the truth, missed")]
        ax.legend(handles=handles, fontsize=6, loc="upper left")
    elif truth_heads:
        ax.legend(handles=[plt.Line2D([], [], color=FOUND_TRUE, linewidth=2, label="circuit heads named by the analysis")],
                  fontsize=6, loc="upper left")
    ax.set_xlim(-0.3, width)
    ax.set_ylim(-0.6, height)
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)
    return path


__all__ = ["draw_circuit"]
