"""RASP programs compiled by tracr (the ``tracr`` extra): models nobody here wrote, with known circuits.

``interp construct tracr --set program=NAME --set vocab=[...] --set max_seq_len=N`` writes the compiled model
as a checkpoint, where NAME is one of tracr's library programs (``interp.constructions.tracr.LIBRARY``) or
``module:function``, a function returning a RASP program; ``eval`` scores it against RASP's own evaluator,
``analyze`` checks the compiler's claims (every head attends as its selector says), ``discover`` scores the
found circuit against every path the compiler built and the paths the batch exercises
(``interp.discovery.truth``). tracr and jax load only when a tracr task is made, so the other families never
pay for them; torch and TransformerLens only when its weights are used, so ``interp tasks`` lists it without them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

from ..family import Construction, Family
from ..lazy import lazy_function
from ..naming import head_label
from ..tasks.base import Batch, Task, make_generator
from ..validation import TaskError, check_int

if TYPE_CHECKING:
    import torch
    from torch import Tensor
    from transformer_lens.model_bridge import TransformerBridge

    from ..analysis import Analysis, Claim
    from ..constructions.tracr import Compiled

# What needs torch (the probes, the compiled model's weights) is imported on first use: making a tracr task and
# listing it reads this module and tracr's compilation (interp.tasks.tracr) without loading torch.

GAP_FOUND, GAP_PARTIAL = 1e-3, 1e-2  # the largest |pattern - selector's pattern| of a head (measured: <= 1.5e-4)


def programs() -> ModuleType:
    """``interp.tasks.tracr`` (the program, compiled in tracr's terms), imported on first use: it loads tracr and
    jax (2 s), which only tracr tasks need; a one-line TaskError where the extra is not installed."""
    return _tracr_module("interp.tasks.tracr")


def compiler() -> ModuleType:
    """``interp.constructions.tracr`` (the compiled program as a TL bridge: torch and TransformerLens), imported on
    first use as ``programs`` is."""
    return _tracr_module("interp.constructions.tracr")


def _tracr_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and e.name.split(".")[0] in ("tracr", "jax", "haiku"):
            raise TaskError(f"tracr tasks need the tracr extra ({e.name} is not installed): "
                            "pip install 'interp[tracr]'") from None
        raise


@dataclass(frozen=True)
class TracrTask(Task):
    """A RASP program compiled by tracr, on inputs of one ``length`` (default ``max_seq_len``) drawn uniformly
    from ``vocab``; targets from RASP's evaluator, at every position after BOS. A categorical program's targets
    are output ids (-1 where RASP leaves a position undefined: not asked, as counting's absent regions); a
    numerical program's are its values, read as one vector ``[batch, n]`` (the shape regression metrics take)."""

    program: str = "hist"
    vocab: tuple[Any, ...] | None = None
    max_seq_len: int = 5
    causal: bool = False
    length: int | None = None

    name: ClassVar[str] = "tracr"
    metric: ClassVar[str] = "accuracy"
    higher_is_better: ClassVar[bool] = True
    input_kind: ClassVar[str] = "tokens"

    def __post_init__(self) -> None:
        program = programs().load_program(self.program, self.vocab, self.max_seq_len, self.causal)
        object.__setattr__(self, "vocab", program.vocab)
        object.__setattr__(self, "length", check_int("length", self.max_seq_len if self.length is None else self.length,
                                                     1, self.max_seq_len))

    @property
    def model_shape(self) -> dict[str, Any]:
        """The compiled model's ``ModelConfig`` fields (``interp.tasks.tracr.TracrModel.shape``), without torch:
        the program is compiled once per process, and ``compiled`` builds its bridge from that compilation."""
        return programs().tracr_model_for(self.program, self.vocab, self.max_seq_len, self.causal).shape

    @property
    def compiled(self) -> "Compiled":
        """The program compiled (once per process) with its graph: which RASP expression each head computes."""
        return compiler().compiled_for(self.program, self.vocab, self.max_seq_len, self.causal)

    @property
    def n_ctx(self) -> int:
        return self.max_seq_len + 1

    @property
    def seq_len(self) -> int:
        return self.length + 1

    @property
    def d_vocab(self) -> int:
        return self.model_shape["d_vocab"]

    @property
    def d_vocab_out(self) -> int:
        return self.model_shape["d_vocab_out"]

    def sample(self, batch_size: int, seed: int | torch.Generator = 0) -> Batch:
        import torch

        batch_size = self.check_batch_size(batch_size)
        picks = torch.randint(0, len(self.vocab), (batch_size, self.length), generator=make_generator(seed))
        inputs = [[self.vocab[i] for i in row] for row in picks.tolist()]
        wanted = self.compiled.program.evaluate(inputs)
        if self.compiled.program.categorical:
            ids = self.compiled.assembled.output_encoder.encoding_map
            targets = torch.tensor([[-1 if v is None else ids[v] for v in row] for row in wanted])
        else:
            targets = torch.tensor([[float(v or 0) for v in row] for row in wanted])
        n = self.length + 1
        # No one selector says what a position reads in every layer: each readout may read the whole input.
        relevant = torch.ones(batch_size, self.length, n, dtype=torch.bool)
        if self.causal:
            relevant &= torch.ones(n, n, dtype=torch.bool).tril()[1:]
        return Batch(inputs=self.compiled.encode(inputs), targets=targets, readout=torch.arange(1, n),
                     relevant=relevant)

    def readout_logits(self, logits: Tensor, batch: Batch) -> Tensor:
        """``[batch, n, d_vocab_out]``; a numerical program's one output as ``[batch, 1, n]``."""
        out = logits[:, batch.readout]
        return out if self.compiled.program.categorical else out[..., 0][:, None]

    def loss(self, logits: Tensor, batch: Batch) -> Tensor:
        import torch

        out = self.readout_logits(logits, batch)
        if not self.compiled.program.categorical:
            return (out[:, 0] - batch.targets).pow(2).mean()
        return torch.nn.functional.cross_entropy(out.flatten(0, 1), batch.targets.flatten(), ignore_index=-1)

    def evaluate(self, logits: Tensor, batch: Batch) -> dict[str, float]:
        out = self.readout_logits(logits, batch)
        if not self.compiled.program.categorical:
            error = (out[:, 0] - batch.targets).abs()
            return {"accuracy": (error < 1e-3).float().mean().item(), "mse": error.pow(2).mean().item()}
        asked = batch.targets >= 0
        correct = (out.argmax(-1) == batch.targets) & asked
        return {"accuracy": (correct.sum() / asked.sum().clamp(min=1)).item(), "loss": self.loss(logits, batch).item()}

    def token_labels(self, batch: Batch, index: int = 0) -> list[str]:
        names = {i: str(token) for token, i in self.compiled.assembled.input_encoder.encoding_map.items()}
        return [names[i] for i in batch.inputs[index].tolist()]


def construct(task: TracrTask) -> "TransformerBridge":
    """The compiled model (compiled once per process: every task of the same program shares it)."""
    return task.compiled.model


def compiled_shape(task: TracrTask) -> dict[str, Any]:
    """The compiled model's own shape: what ``interp train tracr`` would train from scratch."""
    return {**{key: task.model_shape[key] for key in ("n_layers", "n_heads", "d_model", "d_head", "d_mlp", "act_fn")},
            "normalization_type": "none", "positional": "learned",
            "attention_dir": "causal" if task.causal else "bidirectional"}


def expected_spaces(expr: Any) -> dict[str, set[str]]:
    """The residual spaces tracr builds a head for ``expr`` to read and write: its query reads the selector's
    queries (and ``one``), its key the selector's keys (and ``tokens``, where BOS is found); an aggregate's value
    reads the aggregated SOp and writes the aggregate's own space; a selector width's value reads ``tokens``
    (BOS) and writes a hidden space its MLP turns into the width."""
    selector = expr.selector
    if isinstance(expr, compiler().rasp.SelectorWidth):
        value, written = {"tokens"}, {f"{expr.label}_selector_width_attn_output"}
    else:
        value, written = {expr.sop.label}, {expr.label}
    return {"q": {selector.queries.label, "one"}, "k": {selector.keys.label, "tokens"}, "v": value, "o": written}


def claim_named_spaces(model: "TransformerBridge", compiled: "Compiled") -> Claim:
    """Each head reads and writes only the residual spaces tracr names for its RASP expression, read off the
    weights by the residual labels (a model without them, e.g. one trained here, cannot be checked)."""
    from ..analysis import claim, untestable
    from ..constructions.pieces import ResidualBasis
    from ..discovery.truth import blocks_of

    expected = "each head reads its selector's queries and keys and its value, and writes its expression's space"
    labels = getattr(model, "residual_labels", None)
    if labels is None:
        return untestable("reads_and_writes_named_spaces", "weights", expected,
                          "the model's residual directions have no names (only a compiled model's do)")
    basis = ResidualBasis.from_labels(labels)
    matching, wrong = 0, []
    for (layer, head), expr in compiled.heads.items():
        attn = model.blocks[layer].attn
        found = {kind: blocks_of(getattr(attn, f"W_{kind.upper()}")[head], basis) for kind in "qkv"}
        found["o"] = blocks_of(attn.W_O[head].T, basis)
        want = expected_spaces(expr)
        if all(found[kind] and found[kind] <= want[kind] for kind in "qkv") and found["o"] == want["o"]:
            matching += 1
        else:
            wrong.append(head_label(layer, head))
    return claim("reads_and_writes_named_spaces", "weights", expected, matching / len(compiled.heads), found=1.0,
                 partial=0.5, detail=f"not as named: {', '.join(wrong)}" if wrong else "every head as named")


def analyze(model: "TransformerBridge", task: TracrTask, reference: "TransformerBridge | None", samples: int = 2048,
            seed: int = 0) -> Analysis:
    """The compiler's claims, head by head: each attends as its RASP selector says (the largest difference of
    its pattern from the selector's on ``samples`` inputs) and reads and writes the residual spaces tracr names
    for it; and the program's outputs are RASP's."""
    import torch

    from ..analysis import Analysis, Wording, claim, mechanism_line

    compiled = task.compiled
    batch = task.sample(samples, seed)
    names = {i: token for token, i in compiled.assembled.input_encoder.encoding_map.items()}
    inputs = [[names[i] for i in row[1:]] for row in batch.inputs.tolist()]
    gaps = compiler().pattern_gaps(compiled, inputs, model)
    claims = [claim(f"selector_pattern_{head_label(layer, head)}", "attention",
                    f"attends as {compiled.heads[layer, head].label} selects (BOS when nothing is selected)",
                    gap, found=GAP_FOUND, partial=GAP_PARTIAL, higher_is_better=False)
              for (layer, head), gap in gaps.items()]
    with torch.no_grad():
        metrics = task.evaluate(model(batch.inputs), batch)
    claims += [claim_named_spaces(model, compiled),
               claim("matches_rasp", "behaviour", "the program's outputs, as RASP's evaluator gives them",
                     metrics["accuracy"], found=1.0, partial=0.99)]
    circuit = [head for head, gap in gaps.items() if gap <= GAP_FOUND]
    wording = Wording(circuit=f"every head attends as its selector in {task.program} says, on the spaces tracr names",
                      absent="no head attends as its selector says")
    return Analysis(claims, [], mechanism_line(claims, wording, circuit), circuit)


@lazy_function
def structural_uses():
    from ..discovery.truth import structural_uses
    return structural_uses


FAMILY = Family(
    name="tracr",
    summary="RASP programs compiled by tracr: every head and MLP has the role the compiler gave it",
    tasks=(TracrTask,),
    model=compiled_shape,
    train=dict(lr=1e-3, batch_size=256, max_steps=2000, weight_decay=0.0),
    target=None,
    presets={"default": {}},
    constructions={"tracr": Construction("tracr", construct, structural_uses)},
    analyze=analyze,
    circuit=None,
    symmetry=None,  # a program's outputs have no one permutation domain
    readouts=lambda task: task.length,
    compiled_by="tracr",  # interp tasks lists it without importing tracr (and jax) or compiling
)
