"""The one API the CLI and the dashboard use: plain values in, plain values out.

`train_now` trains in the calling process (the CLI's `train` and `run`); `Lab` queues jobs for a
scheduler. Either way one process writes the store, from the engine's events.

The rooms: `training` (train here; what a grid still has to run; its baselines), `lab` (Lab's
commands and reads), and the parts of Lab by what they are for: `trained` (export, push, predict),
`ownership` (who may take what on a shared dashboard; uploads), `previews` (dataset cards and
estimates, with their bounded caches) and `studies` (tuning studies, continual runs).

May import ftlab.store, ftlab.queue, ftlab.train (inside methods: heavy), ftlab.config and the layers
below; never gradio or ftlab.ui.
"""

from ftlab.service.lab import Lab
from ftlab.service.previews import Caches
from ftlab.service.training import absent, methods_train, missing_baselines, train_now

__all__ = ["Lab", "Caches", "absent", "methods_train", "missing_baselines", "train_now"]
