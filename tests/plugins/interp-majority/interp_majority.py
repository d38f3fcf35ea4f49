"""Majority of n bits, as an interp task family declared in one file.

Layout: ``x_0 .. x_{n-1} CLS`` (n odd); tokens 0 and 1 are the bits, 2 is CLS. The label, read at CLS, is 1
when more than half of the bits are 1. The circuit: one head at CLS attends uniformly to every position and
copies ``is_one``, so it writes the fraction of 1s, f = ones / (n + 1); the unembedding compares f with the
threshold n / (2 (n + 1)), half-way between the fractions of the two closest inputs of either label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from interp.analysis import Analysis, Wording, claim, mechanism_line
from interp.analysis.context import Context
from interp.constructions.pieces import Head, ResidualBasis, assemble, block_weights, construction_config
from interp.discovery.truth import Use
from interp.experiments.base import Experiment, Measured, Reference, RowSpec, RunSpec
from interp.family import Construction, Family
from interp.grading import AtLeast
from interp.plot import Plot
from interp.symmetry.score import Domain, Frames, leading_frames, logit_difference, rearranged_tokens
from interp.tasks.base import Batch, ClassificationTask, make_generator
from interp.validation import TaskError, check_int

CLS = 2


@dataclass(frozen=True)
class MajorityTask(ClassificationTask):
    """Majority of n random bits (n odd), read at CLS."""

    n: int = 7

    name: ClassVar[str] = "majority"
    metric: ClassVar[str] = "accuracy"
    higher_is_better: ClassVar[bool] = True
    input_kind: ClassVar[str] = "tokens"

    def __post_init__(self) -> None:
        check_int("n", self.n, 1, 1001)
        if self.n % 2 == 0:
            raise TaskError(f"n must be odd so that every input has a majority, got n={self.n}")

    @property
    def n_ctx(self) -> int:
        return self.n + 1

    @property
    def d_vocab(self) -> int:
        return 3

    @property
    def d_vocab_out(self) -> int:
        return 2

    def labels(self, bits: Tensor) -> Tensor:
        return (2 * bits.sum(-1) > self.n).long()

    def sample(self, batch_size: int, seed: int | torch.Generator = 0) -> Batch:
        batch_size = self.check_batch_size(batch_size)
        bits = torch.randint(0, 2, (batch_size, self.n), generator=make_generator(seed))
        relevant = torch.zeros(batch_size, 1, self.n + 1, dtype=torch.bool)
        relevant[:, 0, : self.n] = True  # every bit counts
        return Batch(torch.cat([bits, torch.full((batch_size, 1), CLS)], 1), self.labels(bits),
                     torch.tensor([self.n]), relevant)

    def token_labels(self, batch: Batch, index: int = 0) -> list[str]:
        return [f"{j}:{b}" for j, b in enumerate(batch.inputs[index, : self.n].tolist())] + ["CLS"]


# --- the construction ------------------------------------------------------------------------------------


def majority(task: MajorityTask, margin: float = 10.0) -> Any:
    """The circuit of the module docstring; the logit difference is at least ``margin`` on every input."""
    basis = ResidualBasis().add("is_zero").add("is_one").add("is_cls").add("fraction")
    cfg = construction_config(task, n_layers=1, n_heads=1, d_model=basis.d_model, d_head=1, d_mlp=0,
                              positional="none")
    D = basis.d_model
    # Zero queries and keys: every position scores the same, so CLS attends uniformly to all n + 1.
    W_V, W_O = torch.zeros(D, 1), torch.zeros(1, D)
    W_V[basis["is_one"], 0], W_O[0, basis["fraction"]] = 1.0, 1.0
    head = Head(torch.zeros(D, 1), torch.zeros(D, 1), W_V, W_O)
    # f moves by 1 / (n + 1) between the closest inputs of either label: the scale makes that 2 * margin.
    scale = 2 * margin * (task.n + 1)
    threshold = task.n / (2 * (task.n + 1))
    W_U = basis.rows([{"is_cls": scale * threshold}, {"fraction": scale}]).T
    weights = {"embed.W_E": basis.rows([{"is_zero": 1.0}, {"is_one": 1.0}, {"is_cls": 1.0}]), "unembed.W_U": W_U}
    weights.update(block_weights(cfg, 0, [head]))
    return assemble(cfg, weights, basis, name="majority", params={"n": task.n, "margin": margin})


def circuit_uses(model: Any) -> list[Use]:
    """The head copies ``is_one`` into ``fraction``, which W_U reads against ``is_cls`` (CLS is always last,
    so that edge carries the same value on every input). Queries and keys read nothing."""
    return [Use("embed->A0.0.v", ("is_one",), False), Use("A0.0->logits", ("fraction",), False),
            Use("embed->logits", ("is_cls",), True)]


# --- the probe -------------------------------------------------------------------------------------------

WORDING = Wording(circuit="the head at CLS averages every position", absent="CLS does not attend evenly")


def analyze(model: Any, task: MajorityTask, reference: Any, samples: int = 2048, seed: int = 0) -> Analysis:
    """One attention claim: how evenly each head at CLS spreads its attention (1 - total variation from the
    uniform pattern over the n + 1 positions)."""
    ctx = Context(model, task, reference, samples, seed)
    cls_rows = ctx.patterns[0][:, :, task.n, :]  # [batch, head, pos]
    evenness = 1 - 0.5 * (cls_rows - 1 / (task.n + 1)).abs().sum(-1).mean(0)  # [head]
    best = int(evenness.argmax())
    circuit = [(0, h) for h, e in enumerate(evenness.tolist()) if e >= 0.9]
    claims = [claim("uniform_attention_at_CLS", "attention", "a head at CLS attends uniformly to all n + 1 positions",
                    float(evenness[best]), found=0.9, partial=0.7, detail=f"most even head L0H{best}"),
              claim("accuracy", "behaviour", "the majority label", ctx.metrics["accuracy"], found=0.99, partial=0.9)]
    return Analysis(claims, [], mechanism_line(claims, WORDING, circuit), circuit)


# --- the permutation-symmetry domain: S_n on the bits, CLS fixed ----------------------------------------


def frames(task: MajorityTask, samples: int, seed: int) -> list[Frames]:
    return leading_frames(task, samples, seed, task.n)


def target(task: MajorityTask, inputs: Tensor, batch: Batch, example: Tensor, readout: Tensor) -> Tensor:
    return (2.0 * task.labels(inputs[:, : task.n]) - 1)[:, None]


# --- an experiment: is the construction exact at every n? ------------------------------------------------


class MajorityConstruction(Experiment):
    """The construction on fresh inputs for several n: every input classified, with the promised margin."""

    name = "majority-construction"
    title = "Majority: the hand-built head is exact at every n"
    paper = "interp's plugin example (tests/plugins/interp-majority)"
    options = {"ns": [3, 7, 15, 31], "samples": 4096}
    quick = {"ns": [3, 7, 15], "samples": 1024}
    seeds, quick_seeds = 2, 1

    def grid(self, options: dict[str, Any], seeds: int) -> list[RunSpec]:
        return [RunSpec(f"n={n}", {"n": n, "samples": options["samples"]}, seed)
                for n in options["ns"] for seed in range(seeds)]

    def measure(self, spec: RunSpec, device: str) -> dict[str, Any]:
        task = MajorityTask(n=spec.params["n"])
        batch = task.sample(spec.params["samples"], spec.seed)
        with torch.no_grad():
            logits = majority(task)(batch.inputs)[:, task.n]
        signed = (logits[:, 1] - logits[:, 0]) * (2 * batch.targets - 1)  # > 0 where the label wins
        return {"accuracy": float((signed > 0).float().mean()), "smallest_margin": float(signed.min())}

    def rows(self, options: dict[str, Any]) -> list[RowSpec]:
        def worst(key: str):
            return lambda runs: Measured(min(r.measurements[key] for r in runs if r.ok),
                                         {key: min(r.measurements[key] for r in runs if r.ok)},
                                         f"the smallest over {sum(r.ok for r in runs)} runs")

        proof = "the construction's margin (interp_majority.majority)"
        return [RowSpec("every input classified", Reference(1.0, proof, "proof"), worst("accuracy"),
                        AtLeast(1.0, 0.99, what="the worst run's accuracy")),
                RowSpec("the logit margin is at least the promised 10", Reference(10.0, proof, "proof"),
                        worst("smallest_margin"), AtLeast(10.0 - 1e-4, what="the smallest margin"))]

    def plots(self, results: list[Any], options: dict[str, Any], seeds: int) -> list[Plot]:
        ns = options["ns"]
        margin = [min(r.measurements["smallest_margin"] for r in results if r.ok and r.params["n"] == n) for n in ns]
        return [Plot.lines("margin", "Smallest logit margin of the construction by n", ns, {"margin": margin},
                           xlabel="n", ylabel="logit margin", hline=10.0)]


FAMILY = Family(
    name="majority",
    summary="majority of n bits: one head at CLS averages the bits",
    tasks=(MajorityTask,),
    model=lambda task: dict(n_layers=1, n_heads=1, d_model=16, d_head=8, d_mlp=0, attention_dir="bidirectional",
                            positional="none"),
    train=dict(lr=1e-2, batch_size=256, max_steps=400, weight_decay=0.0),
    target=0.99,
    presets={"default": {}},
    constructions={"majority": Construction("majority", majority, circuit_uses)},
    analyze=analyze,
    circuit=None,
    symmetry=Domain("S_n on the bit positions (CLS fixed)", "logit difference at CLS", frames, rearranged_tokens,
                    logit_difference, target,
                    lambda task: {"s_sym": 1.0, "profile": [1.0], "kbar": 0.0,
                                  "formula": "a majority is unchanged by rearranging the bits: S_sym = 1"}),
    readouts=lambda task: 1,
    experiments=(MajorityConstruction,),
)
