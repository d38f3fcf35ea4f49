"""Training: AdamW on fresh batches (online) or a finite training set, held-out evaluation, early stop.

The learning rate is constant, decays on a cosine to 0, or (``lr_schedule="plateau"``, a finite training set)
is multiplied by ``plateau_factor`` whenever the training loss summed over an epoch (``ceil(train_size /
batch_size)`` steps) has not improved for ``plateau_patience`` epochs: PyTorch's ``ReduceLROnPlateau`` stepped
once per epoch on that sum, as the positional-attention paper's code does.

TransformerLens's own trainer is next-token-LM only, so tasks with readout positions get this loop.
The same task, model config, train config and seed give the same weights bit for bit on a given
device; a run killed mid-way resumes from its last periodic state (``resume.safetensors``) to the same
result. At every evaluation the loop also records how much attention each head's readout rows put on
the positions the theory calls relevant (``attention_on_relevant``): when each head locks on.

A step whose loss or total gradient norm is NaN or infinite stops the run with ``TrainingDiverged``
before the optimizer applies it: no checkpoint of non-finite weights is written, and the last periodic
resume state (all finite) stays where it was.
"""

from ..lazy import lazy_exports
from .config import ADDED_TRAIN_FIELDS, LOSSES, LR_SCHEDULES, TRAIN_ORDERS, TrainConfig, check_loss

# The loop (torch) is imported on first use: a TrainConfig alone is light.
__getattr__, __dir__ = lazy_exports(__name__, {name: ".loop" for name in (
    "EVAL_SEED_OFFSET", "RESUME", "TRAIN_SET_SEED_OFFSET", "TrainResult", "TrainingDiverged", "make_optimizer",
    "make_plateau", "run_identity", "squared_mean_hinge", "train")})

__all__ = ["ADDED_TRAIN_FIELDS", "EVAL_SEED_OFFSET", "LOSSES", "LR_SCHEDULES", "RESUME", "TRAIN_ORDERS",
           "TRAIN_SET_SEED_OFFSET", "TrainConfig", "TrainResult", "TrainingDiverged", "check_loss", "make_optimizer",
           "make_plateau", "run_identity", "squared_mean_hinge", "train"]
