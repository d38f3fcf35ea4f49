"""What an analysis returns: graded claims, plots to draw, the mechanism line and the circuit heads."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..plot import Plot
from .claims import Claim
from .mechanism import Assessment, assess


@dataclass
class Analysis:
    claims: list[Claim]
    plots: list[Plot] = field(default_factory=list)
    mechanism: str = ""
    circuit: list[tuple[int, int]] = field(default_factory=list)
    # How text names the circuit heads, when ``L{layer}H{head}`` is ambiguous (an encoder-decoder's "encoder L0H0"
    # and "cross-attention L0H0"); empty: ``head_label`` of each.
    circuit_names: list[str] = field(default_factory=list)

    def claim(self, name: str) -> Claim:
        """The claim called ``name`` (KeyError listing the names if there is none)."""
        for c in self.claims:
            if c.name == name:
                return c
        raise KeyError(f"no claim {name!r}; claims: {', '.join(c.name for c in self.claims)}")

    @property
    def assessment(self) -> Assessment:
        """The mechanism claims sorted by verdict, and the status the mechanism line states."""
        return assess(self.claims)


__all__ = ["Analysis", "Plot"]
