"""interp: see in trained toy transformers the circuits the theory predicts.

``model, task = interp.load(DIR)`` loads a trained or constructed checkpoint.
"""

__version__ = "0.1.0"

from .tasks import Batch, Task, TaskError, make_task  # noqa: E402


def load(directory):
    """Load a checkpoint directory: returns ``(model, task)``. See ``interp.checkpoint``."""
    from .checkpoint import load as _load

    return _load(directory)


__all__ = ["Batch", "Task", "TaskError", "load", "make_task", "__version__"]
