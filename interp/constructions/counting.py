"""Golkar et al. contextual counting: a two-layer causal NoPE construction and its "]-as-bias" twin.

Derivation: docs/theory/counting.md, 'The construction'. The model reads ``BOS x_1 .. x_L Q_1 .. Q_R`` with no
positional information at all (W_pos = 0); causality alone tells a token what came before it.

- Layer 0 (region detector): every token attends uniformly to BOS and the N delimiters at or before
  it and copies ``is_bos``, so ``region_code = 1/(N+1)``. MLP0 discretises it: ``in_region[r] = 1[N =
  2r - 1]`` (inside region r, or its opening "[").
- Layer 1 (counter): the query Q_r attends uniformly to the 1s with ``in_region[r]`` plus a bias
  token and copies the bias flag, so ``count_code = b / (n + b)`` for n ones and b bias tokens.
  With BOS as the bias (b = 1) this is ``1/(n+1)`` and needs nothing that varies between sequences.
- MLP1 discretises ``count_code`` into ``at_least[n] = 1[count >= n]`` and W_U reads
  ``logit_n = LOGIT_SCALE (at_least[n] - at_least[n+1])``: a one-hot over 0..max_count, with counts
  above max_count read as max_count.

The twin ``counting_close_bias`` uses the R "]" tokens as the bias instead of BOS and decodes as if
there were always ``trained_regions`` of them. It is exact only when R equals that number: the
failure mode the paper reports for models whose training always had the same number of regions.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..tasks.counting import BOS, CLOSE, FIRST_QUERY, ONE, OPEN, ZERO, CountingTask
from ..validation import TaskError, check_int
from .pieces import (ResidualBasis, assemble, assemble_hooked, block_weights, construction_config, discretiser,
                     set_attention_head)

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge

    from ..models.encoder_decoder import EncoderDecoder

LOGIT_SCALE = 10.0
# Both heads give members a score at least beta above every other key; beta = ln(n_ctx) + margin
# caps the total mass leaked to the (at most n_ctx) others at exp(-margin).
LEAK_MARGIN = 14.0


def _check_task(task: Any) -> CountingTask:
    if not isinstance(task, CountingTask):
        raise TaskError(f"task must be a counting task, got {getattr(task, 'name', type(task).__name__)!r}")
    return task


def _basis(task: CountingTask) -> ResidualBasis:
    regions = range(1, task.max_regions + 1)
    basis = ResidualBasis()
    for name in ("one", "is_bos", "is_one", "is_delim", "is_close", "region_code"):
        basis.add(name)
    basis.add("in_region", regions).add("query", regions).add("count_code")
    return basis.add("at_least", range(1, task.max_count + 1))


def _build(task: CountingTask, bias: str, bias_count: int, name: str, params: dict[str, Any],
           encoder_decoder: bool = False) -> "TransformerBridge | EncoderDecoder":
    """The circuit with ``bias`` ("is_bos" or "is_close") as the counting head's bias flag, decoded for
    ``bias_count`` bias tokens: two causal layers, or (``encoder_decoder``) the paper's encoder-decoder with the
    region detector as its encoder and the counter as its decoder's cross-attention."""
    R_max, C = task.max_regions, task.max_count
    basis = _basis(task)
    beta = math.log(task.n_ctx) + LEAK_MARGIN
    layout = dict(architecture="encoder-decoder", decoder_vocab_start=FIRST_QUERY) if encoder_decoder else {}
    cfg = construction_config(
        task,
        n_layers=1 if encoder_decoder else 2,
        n_heads=1,
        d_model=basis.d_model,
        d_head=R_max + 1,
        d_mlp=max(4 * R_max, 2 * C),
        attention_dir="causal",
        positional="none",
        **layout,
    )

    token_directions = {
        BOS: {"one": 1.0, "is_bos": 1.0},
        ZERO: {"one": 1.0},
        ONE: {"one": 1.0, "is_one": 1.0},
        OPEN: {"one": 1.0, "is_delim": 1.0},
        CLOSE: {"one": 1.0, "is_delim": 1.0, "is_close": 1.0},
        **{FIRST_QUERY + r - 1: {"one": 1.0, f"query[{r}]": 1.0} for r in range(1, R_max + 1)},
    }
    W_E = basis.rows([token_directions[t] for t in range(task.d_vocab)])

    region_head = set_attention_head(
        basis,
        match={("one", "is_delim"): 1.0, ("one", "is_bos"): 1.0},
        copy={("is_bos", "region_code"): 1.0},
        beta=beta,
    )
    # Step m of MLP0 is 1[N >= m]; in_region[r] = 1[N >= 2r - 1] - 1[N >= 2r].
    region_mlp = discretiser(
        basis,
        "region_code",
        values=[1 / (N + 1) for N in range(2 * R_max + 1)],
        writes=[{f"in_region[{(m + 1) // 2}]": 1.0 if m % 2 else -1.0} for m in range(1, 2 * R_max + 1)],
    )
    # Scores / beta: +1/2 for the 1s of region r and for bias tokens, <= -1/2 for every other key.
    count_head = set_attention_head(
        basis,
        match={
            **{(f"query[{r}]", f"in_region[{r}]"): 1.0 for r in range(1, R_max + 1)},
            ("one", "is_one"): 1.0,
            ("one", "one"): -1.5,
            ("one", bias): 2.0,
        },
        copy={(bias, "count_code"): 1.0},
        beta=beta,
    )
    count_mlp = discretiser(
        basis,
        "count_code",
        values=[bias_count / (n + bias_count) for n in range(C + 1)],
        writes=[{f"at_least[{n}]": 1.0} for n in range(1, C + 1)],
    )
    at_least = ["one"] + [f"at_least[{n}]" for n in range(1, C + 1)]
    W_U = LOGIT_SCALE * basis.rows(
        [{at_least[n]: 1.0, **({at_least[n + 1]: -1.0} if n < C else {})} for n in range(C + 1)]
    ).T

    weights = {"embed.W_E": W_E, "unembed.W_U": W_U}
    weights.update(block_weights(cfg, 0, [region_head], region_mlp))
    params = {"max_regions": R_max, "max_count": C, "n_ctx": task.n_ctx, "beta": beta, **params}
    if not encoder_decoder:
        weights.update(block_weights(cfg, 1, [count_head], count_mlp))
        return assemble(cfg, weights, basis, name=name, params=params)
    # The decoder's block 0 holds the counter: its head is the cross-attention (queries from the labels Q_r, keys
    # and values from the encoder's output); its self-attention stays zero.
    for key, value in block_weights(cfg, 0, [count_head], count_mlp).items():
        weights[key.replace("blocks.0.attn.", "decoder.0.cross_attn.").replace("blocks.0.", "decoder.0.")] = value
    return assemble_hooked(cfg, weights, basis, name=name, params=params)


def counting(task: CountingTask) -> "TransformerBridge":
    """The BOS-bias construction: exact for any L <= n_ctx - 1 - R, any R <= max_regions, counts <= max_count."""
    return _build(_check_task(task), "is_bos", 1, "counting", {"bias_token": "BOS"})


def counting_close_bias(task: CountingTask, trained_regions: int = 4) -> "TransformerBridge":
    """The "]-as-bias" twin: ``count_code = R / (n + R)`` decoded as if R were ``trained_regions``.

    It reads n ones as about ``n * trained_regions / R``: exact when R == ``trained_regions`` (at any
    L), wrong for most nonzero counts otherwise.
    """
    task = _check_task(task)
    trained_regions = check_int("trained_regions", trained_regions, 1, task.max_regions)
    params = {"bias_token": "]", "trained_regions": trained_regions}
    return _build(task, "is_close", trained_regions, "counting_close_bias", params)


def counting_paper(task: CountingTask) -> "EncoderDecoder":
    """Golkar et al.'s encoder-decoder, BOS as the bias: exact for any L <= n_ctx - 1 - R, any R <= max_regions,
    counts <= max_count (docs/theory/counting.md, 'The paper's encoder-decoder')."""
    return _build(_check_task(task), "is_bos", 1, "counting_paper", {"bias_token": "BOS"}, encoder_decoder=True)


def counting_paper_close_bias(task: CountingTask, trained_regions: int = 4) -> "EncoderDecoder":
    """The encoder-decoder's "]-as-bias" twin, decoded as if there were always ``trained_regions`` regions: exact
    only at that number of regions (at any L)."""
    task = _check_task(task)
    trained_regions = check_int("trained_regions", trained_regions, 1, task.max_regions)
    params = {"bias_token": "]", "trained_regions": trained_regions}
    return _build(task, "is_close", trained_regions, "counting_paper_close_bias", params, encoder_decoder=True)


__all__ = ["counting", "counting_close_bias", "counting_paper", "counting_paper_close_bias", "LOGIT_SCALE", "LEAK_MARGIN"]
