"""interp: see in trained toy transformers the circuits the theory predicts.

``model, task = interp.load(DIR)`` loads a trained or constructed checkpoint.
"""

__version__ = "0.1.0"

from .lazy import lazy_exports
from .validation import TaskError


def load(directory):
    """Load a checkpoint directory: returns ``(model, task)``. See ``interp.checkpoint``."""
    from .checkpoint import load as _load  # here: the command line's parser imports this package, without torch

    return _load(directory)


# Imported on first use: the command line's parser loads this package and must not pay for torch.
__getattr__, __dir__ = lazy_exports(__name__, {"Batch": ".tasks", "Task": ".tasks", "make_task": ".tasks"})

__all__ = ["Batch", "Task", "TaskError", "load", "make_task", "__version__"]
