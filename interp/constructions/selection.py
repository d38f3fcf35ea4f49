"""Sanford et al. / Wang et al.: one head whose query is the subset code and whose keys are positions.

Derivation: docs/theory/selection.md, 'The construction'. Residual layout (d_model = 2d + 1 + 2m, with
m = ``task.code_width``):

    [ content (d) | is_query | position (m) | subset (m) | mean (d) ]

- W_E copies the task's feature blocks into the same-named residual blocks. With
  ``positions="learned"`` the position code is the one-hot table W_pos (row i = e_i for data token i,
  0 for the query); with ``positions="orthonormal"`` the codes arrive in the features and W_pos is 0.
- The head (``set_attention_head``) scores ``beta * <subset code of the query, position code of the
  key>``, i.e. ``W_QK = beta * I`` on the subset x position block: ``beta`` for the q selected tokens, 0
  for the rest and for the query itself. OV copies ``content`` into ``mean``; W_U reads ``mean``.

Expected error (exactly orthonormal codes, Gaussian content, T' data tokens):
``nMSE(T', beta) = ((T' - q + 1)^2 + q (T' - q)) / (q e^beta + T' - q + 1)^2``, increasing in T', so
``beta`` is chosen for the longest length to serve and holds at every shorter one.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..tasks.selection import SelectionTask
from ..validation import TaskError, check_int
from .pieces import ResidualBasis, assemble, block_weights, construction_config, set_attention_head

if TYPE_CHECKING:
    from torch import Tensor
    from transformer_lens.model_bridge import TransformerBridge

# The default beta targets error * BATCH_MARGIN in expectation. A batch estimate of nMSE is the
# expectation times chi^2_{dB} / dB (content is Gaussian and the pattern does not depend on it), so
# the margin keeps measured nMSE below ``error`` unless d * batch is tiny (P < 1e-6 for d*B >= 16).
BATCH_MARGIN = 0.25
# Below this the float32 rounding of the attention-weighted sum dominates the softmax leak.
MIN_ERROR = 1e-8
# A logit this far below every other key's has softmax weight exactly 0 in float32 (exp(-104) underflows).
SELF_EXCLUDED = 1e4


def nmse_from_gap(length: int, q: int, gap: float, null_keys: int = 0) -> float:
    """Population nMSE of attention that gives the q selected tokens a logit ``gap`` above the others.

    The others are the ``length - q`` unselected data tokens plus ``null_keys`` keys that carry a zero
    value (the construction's query token, scoring like an unselected token). Content is N(0, I), so with
    ``Z = q e^gap + (length - q) + null_keys`` the selected tokens get ``e^gap / Z`` each and

        nMSE = ((length - q + null_keys)^2 + q (length - q)) / Z^2,

    which for ``null_keys = 0`` is ``length (length - q) / (q e^gap + length - q)^2``, the closed form of
    Wang et al.'s ideal circuit used for length generalisation (docs/theory/selection.md, 'Attention and error').
    """
    rest = length - q + null_keys
    Z = q * math.exp(min(gap, 700.0)) + rest
    return (rest**2 + q * (length - q)) / Z**2


def expected_nmse(length: int, q: int, beta: float) -> float:
    """Population nMSE of the construction (its query token is a zero-value key at logit 0) on ``length`` tokens."""
    return nmse_from_gap(length, q, beta, null_keys=1)


def beta_for(length: int, q: int, error: float) -> float:
    """The smallest ``beta >= 0`` with ``expected_nmse(length, q, beta) <= error``."""
    rest = length - q + 1
    Z = math.sqrt((rest**2 + q * (length - q)) / error)
    u = (Z - rest) / q
    return math.log(u) if u > 1 else 0.0


def _selection_task(task: Any) -> SelectionTask:
    if not isinstance(task, SelectionTask):
        raise TaskError(f"task must be a selection task, got {getattr(task, 'name', type(task).__name__)!r}")
    return task


def _check(task: Any, error: Any, max_length: Any) -> tuple[SelectionTask, float, int]:
    task = _selection_task(task)
    if isinstance(error, bool) or not isinstance(error, (int, float)) or not MIN_ERROR <= error < 1:
        raise TaskError(f"error must be a number in [{MIN_ERROR:g}, 1) (float32 floor), got {error!r}")
    longest = task.T if task.positions == "learned" else task.code_dim
    if max_length is None:
        max_length = longest
    # A one-hot table has exactly T rows; orthonormal codes serve any length up to code_dim.
    max_length = check_int("max_length", max_length, task.T, longest)
    return task, float(error), max_length


def selection(
    task: SelectionTask, error: float = 1e-4, max_length: int | None = None, beta: float | None = None
) -> "TransformerBridge":
    """The qSTS construction for ``task`` with expected nMSE <= ``error`` at every length <= ``max_length``.

    ``max_length`` defaults to the longest length the model can serve: ``task.T`` with the one-hot
    table, ``task.code_dim`` with orthonormal codes. ``beta`` defaults to ``beta_for(max_length, q,
    error * BATCH_MARGIN)``; an explicit ``beta`` too small for ``error`` raises TaskError.
    """
    task, error, max_length = _check(task, error, max_length)
    q, d, m = task.q, task.d, task.code_width
    if beta is None:
        beta = beta_for(max_length, q, error * BATCH_MARGIN)
    elif isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta >= 0:
        raise TaskError(f"beta must be a number >= 0, got {beta!r}")
    elif expected_nmse(max_length, q, beta) > error:
        raise TaskError(
            f"beta={beta:g} is too small for error={error:g} at max_length={max_length} (q={q}): expected nMSE "
            f"{expected_nmse(max_length, q, beta):.3g}; need beta >= {beta_for(max_length, q, error):.4g}"
        )
    beta = float(beta)
    params = {
        "T": task.T,
        "d": d,
        "q": q,
        "positions": task.positions,
        "error": error,
        "max_length": max_length,
        "beta": beta,
        "expected_nmse": expected_nmse(max_length, q, beta),
    }
    match = {(f"subset[{j}]", f"position[{j}]"): 1.0 for j in range(m)}
    return _one_head(task, match, beta, name="selection", params=params)


def wang_selection(task: SelectionTask, W: "Tensor") -> "TransformerBridge":
    """Wang et al.'s simplified model holding the score table ``W`` (``[m, m]``, ``interp.models.wang.WangSelection.W``),
    as a bridge in this module's layout, so that the selection probes read it like any other model.

    The head scores data token i by ``s^T W p_i`` (where the construction has ``beta * I``) and the query's own
    key by ``-SELF_EXCLUDED``: Wang et al.'s query attends to the data tokens only, and that logit's softmax
    weight is exactly 0 in float32. OV copies the content. On the T data tokens it was trained with, this is
    ``WangSelection``'s function (``tests/test_selection_counting_experiments.py``); longer inputs go through
    ``interp.analysis.selection.at_length`` as for any bridge.
    """
    m = _selection_task(task).code_width
    if tuple(W.shape) != (m, m):
        raise TaskError(f"W must be [{m}, {m}] (the task's code width), got {list(W.shape)}")
    table = W.detach().float().cpu()
    match = {(f"subset[{j}]", f"position[{k}]"): float(table[j, k]) for j in range(m) for k in range(m)}
    match["is_query", "is_query"] = -SELF_EXCLUDED
    params = {"T": task.T, "d": task.d, "q": task.q, "positions": task.positions}
    return _one_head(task, match, 1.0, name="wang_selection", params=params)


def _one_head(task: SelectionTask, match: dict[tuple[str, str], float], beta: float, *, name: str,
              params: dict[str, Any]) -> "TransformerBridge":
    """The one-head model of the module docstring's layout whose head scores ``beta * match`` and copies the
    content (``set_attention_head``)."""
    d, m = task.d, task.code_width
    basis = ResidualBasis()
    basis.add("content", range(d)).add("is_query").add("position", range(m)).add("subset", range(m))
    basis.add("mean", range(d))
    learned = task.positions == "learned"
    queries = len({query for query, _ in match})  # one query-key column per query label (``set_attention_head``)
    cfg = construction_config(
        task,
        n_layers=1,
        n_heads=1,
        d_model=basis.d_model,
        d_head=max(queries, d),
        d_mlp=0,
        attention_dir="causal",
        positional="learned" if learned else "none",
    )

    # Each feature column of the task goes to the residual direction of the same block and key.
    feature_label = {}
    for block, cols in task.blocks.items():
        for key, col in enumerate(range(cols.start, cols.stop)):
            feature_label[col] = block if block == "is_query" else f"{block}[{key}]"
    W_E = basis.rows([{feature_label[col]: 1.0} for col in range(task.d_vocab)])
    pos_rows = [{f"position[{i}]": 1.0} if learned and i < task.T else {} for i in range(cfg.n_ctx)]
    head = set_attention_head(basis, match=match, copy={(f"content[{i}]", f"mean[{i}]"): 1.0 for i in range(d)}, beta=beta)
    W_U = basis.rows([{f"mean[{i}]": 1.0} for i in range(d)]).T
    weights = {"embed.W_E": W_E, "pos_embed.W_pos": basis.rows(pos_rows), "unembed.W_U": W_U}
    weights.update(block_weights(cfg, 0, [head]))
    return assemble(cfg, weights, basis, name=name, params=params)


__all__ = ["selection", "wang_selection", "SELF_EXCLUDED", "expected_nmse", "beta_for", "nmse_from_gap", "BATCH_MARGIN", "MIN_ERROR"]
