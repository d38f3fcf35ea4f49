"""The names the discovery commands accept, apart from the code behind them so the parser needs no torch."""

METHODS = ("acdc", "eap", "eap-ig", "node")
# Which metric each method uses unless told otherwise: ACDC and node ablation the distance to the clean
# output (ACDC's headline setting); the gradient methods the task score (KL's gradient is 0 at the clean point).
DEFAULT_METRIC = {"acdc": "kl", "node": "kl", "eap": "task", "eap-ig": "task"}
ABLATIONS = ("zero", "mean", "resample")
METRICS = ("kl", "task")
