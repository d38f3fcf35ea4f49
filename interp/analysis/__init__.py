"""Analysis: probes that find the theory's circuit in any model, causal checks, and comparison with
the construction. Every probe returns a graded claim (found / partial / not_found) with its numbers;
rendering them is ``interp.viz``'s job.
"""

from .claims import Claim, claim, grade
from .result import Analysis
from .run import analyze_all, analyze_checkpoint, analyze_model

__all__ = ["Analysis", "Claim", "analyze_all", "analyze_checkpoint", "analyze_model", "claim", "grade"]
