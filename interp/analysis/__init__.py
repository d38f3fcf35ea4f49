"""Analysis: probes that find the theory's circuit in any model, causal checks, and comparison with
the construction. Every probe is one ``claim_*`` function of its task module returning a graded claim
(found / partial / not_found, or untestable with the reason); the mechanism line is computed from the
verdicts of the mechanism claims (``interp.analysis.mechanism``). Rendering is ``interp.viz``'s job.
"""

from .claims import KINDS, MECHANISM_KINDS, VERDICTS, Claim, claim, grade, untestable
from .mechanism import Assessment, Wording, assess, mechanism_line
from .result import Analysis
from .run import CheckpointAnalysis, analyze_checkpoint, analyze_model

__all__ = [
    "KINDS",
    "MECHANISM_KINDS",
    "VERDICTS",
    "Analysis",
    "Assessment",
    "CheckpointAnalysis",
    "Claim",
    "Wording",
    "analyze_checkpoint",
    "analyze_model",
    "assess",
    "claim",
    "grade",
    "mechanism_line",
    "untestable",
]
