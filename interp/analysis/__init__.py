"""Analysis: probes that find the theory's circuit in any model, causal checks, and comparison with
the construction. Every probe returns graded claims (found / partial / not_found) with their numbers.
"""

from .claims import Claim, claim, grade
from .result import Analysis, Plot
from .run import analyze_all, analyze_checkpoint, analyze_model

__all__ = ["Analysis", "Claim", "Plot", "analyze_all", "analyze_checkpoint", "analyze_model", "claim", "grade"]
