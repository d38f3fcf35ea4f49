"""Models: TransformerLens 4 ``TransformerBridge`` objects booted natively from a plain config.

Every model is a ``TransformerBridge.boot_native`` bridge, so TL hooks (``blocks.{l}.attn.hook_pattern``),
caches, patching and ``FactoredMatrix`` circuits work unchanged. Three things TL 4's native boot does
not offer are added here, each visible in the weights and hooks:

- feature inputs: for continuous tasks, ``embed.W_E`` is a ``[d_in, d_model]`` linear input embedding
  applied to float features ``[batch, pos, d_in]`` (a one-hot row is the same as a token lookup), and
  its output still passes ``hook_embed``;
- NoPE: ``positional="none"`` keeps TL's ``W_pos`` but zero and frozen;
- the frozen-attention control: ``freeze_attention=True`` keeps everything that sets an attention
  pattern at its random initial value: ``W_E``, ``W_pos``, every block before the last, and the last
  block's ``ln1``, ``W_Q``, ``W_K`` and their biases. Only the last block's values, output, MLP and the
  unembedding train, so every pattern is the one the model was initialised with.

``architecture="hooked"`` builds ``interp.models.positional.PositionalTransformer`` instead: a
``HookedRootModule`` with TL hook and weight names for what a bridge cannot express: positional
attention (``positional="attention"``), the positional-attention paper's concatenate-then-MLP layer
(``layer="concat"``) and models with no biases (``bias=False``). ``architecture="pointer"`` builds
``interp.models.pointer.PointerTransformer``: Han & Ghoshdastidar's minimal parity model (one 2-d query a head on fixed
circular keys, their frozen zig-zag), or with ``readout="mlp"`` their frozen-attention control (a trainable ReLU MLP
on each head's output; ``freeze_attention=True`` keeps the queries at their init).
"""

from ..lazy import lazy_exports
from .config import (
    ACT_FNS,
    ARCHITECTURES,
    ATTENTION_DIRS,
    INIT_MODES,
    INPUT_KINDS,
    LAYERS,
    NORMALIZATION,
    POSITIONAL,
    TL_INIT_MODES,
    ModelConfig,
)

# What builds and runs models (torch, TransformerLens) is imported on first use: a config alone is light.
__getattr__, __dir__ = lazy_exports(__name__, {name: ".build" for name in (
    "DEVICES", "FeatureEmbedding", "build_model", "count_parameters", "on_device", "pattern_parameters",
    "resolve_device", "trainable_parameters")})

__all__ = ["ACT_FNS", "ARCHITECTURES", "ATTENTION_DIRS", "DEVICES", "FeatureEmbedding", "INIT_MODES", "INPUT_KINDS",
           "LAYERS", "ModelConfig", "NORMALIZATION", "POSITIONAL", "TL_INIT_MODES", "build_model", "count_parameters",
           "on_device", "pattern_parameters", "resolve_device", "trainable_parameters"]
