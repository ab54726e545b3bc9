"""Training loss and throughput, window by window, with no host sync per step.

On a GPU the host only queues work and runs ahead of the device, so a host clock read after a
step says when the step was queued, not when it was done. A window (the steps between two curve
points) therefore waits for the device once, when it closes, and its clock stops after that wait:
the window's time then holds the device finishing everything the window queued.
"""

from __future__ import annotations

from dataclasses import dataclass
from time import perf_counter

import torch


def to_host(value: torch.Tensor) -> float:
    """The host sync. On CUDA, reading a value copies it on the stream, behind every kernel queued
    before it (the optimizer step included), so this waits for all of that work, not just the value."""
    return float(value)


def rate(count: float, seconds: float) -> float:
    return count / max(seconds, 1e-9)


@dataclass(frozen=True)
class WindowReport:
    loss: float  # mean loss over the window's micro-batches
    samples_per_s: float
    tokens_per_s: float


class ThroughputWindow:
    """The loss and throughput of one window, and the run's totals over all closed windows.

    The clock is wall time: it starts with the window's first micro-batch and stops after the
    sync at close. Whatever happens between windows (sending a curve point, evaluating, deciding
    to stop) is not training and stays out: the clock only restarts with the next micro-batch.
    An evaluation inside a window pauses it (`pause`): the evaluation's own sync would otherwise
    also wait for the window's queued steps and hide their time in the evaluation's."""

    def __init__(self, device: torch.device):
        self.loss = torch.zeros((), device=device)  # summed on the device: read once, at close
        self.micro = self.samples = self.tokens = 0
        self.seconds = 0.0
        self._since: float | None = None  # when the clock last started; None while it is stopped
        self.train_s = 0.0  # running totals of the closed windows, for the run's summary
        self.samples_seen = self.tokens_seen = 0

    def start(self) -> None:
        """Called before each micro-batch: starts the clock unless it runs."""
        if self._since is None:
            self._since = perf_counter()

    def add(self, loss: torch.Tensor, samples: int, tokens: int) -> None:
        self.loss += loss.detach()
        self.micro += 1
        self.samples += samples
        self.tokens += tokens

    def pause(self) -> None:
        """Before an evaluation pass: the device finishes this window's work on the window's clock."""
        if self._since is not None:
            to_host(self.loss)
            self._stop()

    def close(self) -> WindowReport:
        mean_loss = to_host(self.loss) / max(self.micro, 1)  # the window's one host sync
        self._stop()
        report = WindowReport(mean_loss, rate(self.samples, self.seconds), rate(self.tokens, self.seconds))
        self.train_s += self.seconds
        self.samples_seen += self.samples
        self.tokens_seen += self.tokens
        self.loss.zero_()
        self.micro = self.samples = self.tokens = 0
        self.seconds = 0.0
        return report

    def _stop(self) -> None:
        if self._since is not None:
            self.seconds += perf_counter() - self._since
            self._since = None
