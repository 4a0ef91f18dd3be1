"""ProgressBar: what :func:`fit` prints while it trains.

On a terminal, a tqdm bar per epoch with the running loss and metrics, images per second and the
time left. When the output is not a terminal (a log file, a notebook's captured stream, CI), no
bar: one line per epoch instead, e.g.::

    Epoch 3/10 - 1.4s - 4210 img/s - loss: 0.3121 - accuracy: 0.8890 - val_loss: 0.3342 - ...

Before the first epoch it prints the run's hyper-parameters on one line (checklist F9).
"""
from __future__ import annotations

import sys
import time

from .callbacks import Callback

try:  # tqdm draws the bar on a terminal; without it, one line per epoch everywhere
    from tqdm import tqdm
except ImportError:  # pragma: no cover - depends on the environment
    tqdm = None

__all__ = ["ProgressBar", "format_logs"]

_SKIP = ("batch", "size", "time")


def _format_value(value) -> str:
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.3e}"
        return f"{value:.4f}"
    return str(value)


def format_logs(logs: dict) -> str:
    """``"loss: 0.3121 - accuracy: 0.8890 - ..."`` (batch counters and time left out)."""
    return " - ".join(f"{k}: {_format_value(v)}" for k, v in logs.items() if k not in _SKIP)


def _format_params(params: dict) -> str:
    shown = {k: v for k, v in params.items() if v not in (None, (), [], {})}
    return ", ".join(f"{k}={v}" for k, v in shown.items())


class ProgressBar(Callback):
    """Print training progress.

    Args:
        verbose: 0 silent; 1 a bar on a terminal, else one line per epoch; 2 one line per epoch.
        stream: where to write; by default ``sys.stdout`` (looked up when training starts).
    """

    def __init__(self, verbose: int = 1, stream=None):
        super().__init__()
        if verbose not in (0, 1, 2):
            raise ValueError(f"ProgressBar: verbose must be 0, 1 or 2, got {verbose!r}")
        self.verbose, self.stream = verbose, stream
        self._bar, self._out = None, None

    def _interactive(self) -> bool:
        isatty = getattr(self._out, "isatty", None)
        return self.verbose == 1 and isatty is not None and isatty()

    def _print(self, line: str) -> None:
        print(line, file=self._out, flush=True)

    def on_train_begin(self, logs=None):
        self._out = self.stream if self.stream is not None else sys.stdout
        if self.verbose:
            self._print(f"fit: {_format_params(self.params)}")

    def on_epoch_begin(self, epoch, logs=None):
        self._seen, self._start = 0, time.perf_counter()
        if self.verbose and self._interactive() and tqdm is not None:
            self._bar = tqdm(total=self.params.get("steps"), file=self._out, unit="batch",
                             desc=self._title(epoch), dynamic_ncols=True, leave=True)

    def _title(self, epoch: int) -> str:
        return f"Epoch {epoch + 1}/{self.params.get('epochs', '?')}"

    def _speed(self) -> str:
        elapsed = time.perf_counter() - self._start
        return f"{self._seen / elapsed:.0f} img/s" if elapsed > 0 else "- img/s"

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        self._seen += int(logs.get("size", 0))
        if self._bar is not None:
            self._bar.set_postfix_str(f"{format_logs(logs)} - {self._speed()}", refresh=False)
            self._bar.update(1)

    def on_epoch_end(self, epoch, logs=None):
        if not self.verbose:
            return
        logs = logs or {}
        seconds = logs.get("time", time.perf_counter() - self._start)
        if self._bar is not None:
            self._bar.set_postfix_str(f"{format_logs(logs)} - {self._speed()}", refresh=False)
            self._bar.close()
            self._bar = None
            return
        speed = f"{self._seen / seconds:.0f} img/s" if seconds > 0 else "- img/s"
        self._print(f"{self._title(epoch)} - {seconds:.1f}s - {speed} - {format_logs(logs)}")

    def on_train_end(self, logs=None):
        if self._bar is not None:
            self._bar.close()
            self._bar = None

