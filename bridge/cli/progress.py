"""What ``alembic-bridge upgrade`` / ``downgrade`` show while migrations run.

Before each migration, which one starts. On a terminal, one live line on
stderr with that migration's own elapsed time, redrawn every
`TICK` seconds while it runs; anything the migration prints to stdout first
clears that line, so its output is never glued onto it. Otherwise, plain lines
with each migration's own duration. While a migration waits on a lock for more
than a few seconds, who blocks it. ``--quiet`` shows none of it.
"""

from __future__ import annotations

import sys
import threading
import time

import click

TICK = 0.5


class Progress:
    """The run callbacks (`on_start`, `on_step`, `on_wait`) that print progress."""

    def __init__(self, quiet: bool, total: int | None = None, stream=None):
        self.quiet = quiet
        self.total = total
        self.stream = stream or sys.stderr
        self.live = not quiet and self.stream.isatty()
        self.count = 0
        self._step = None
        self._started = 0.0
        self._lock = threading.RLock()
        self._drawn = False
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()

    # -- run callbacks -------------------------------------------------------------------

    def on_start(self, step) -> None:
        if self.quiet:
            return
        with self._lock:
            self._step, self._started = step, time.monotonic()
            verb = "applying" if step.direction == "upgrade" else "reverting"
            if self.live:
                self._stop.clear()
                self._draw()
                self._ticker = threading.Thread(target=self._tick, name="bridge-progress", daemon=True)
                self._ticker.start()
            else:
                self._echo(f"{verb} {step.revision} ({step.kind}): {step.title}")

    def on_step(self, step, seconds: float) -> None:
        self.count += 1
        if self.quiet:
            return
        self._stop_ticker()
        with self._lock:
            self._step = None
            verb = "applied" if step.direction == "upgrade" else "reverted"
            position = f"[{self.count}/{max(self.total or 0, self.count)}] " if self.live else ""
            self._clear()
            self._echo(f"{position}{verb} {step.revision} ({seconds:.2f}s)")

    def on_wait(self, step, waited: float, blocking: list[str]) -> None:
        if self.quiet:
            return
        with self._lock:
            self._clear()
            self._echo(f"  {step.revision} has waited {waited:.0f}s for a lock held by:")
            for line in blocking:
                self._echo(f"    {line}")
            self._draw()

    def stop(self) -> None:
        """End the live line (call when the run ends, failed or not)."""
        self._stop_ticker()
        with self._lock:
            self._clear()
            self._step = None

    # -- the live line ---------------------------------------------------------------------

    def _tick(self) -> None:
        while not self._stop.wait(TICK):
            with self._lock:
                if self._step is not None:
                    self._draw()

    def _stop_ticker(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
            self._ticker = None

    def _draw(self) -> None:
        if not self.live or self._step is None:
            return
        step = self._step
        verb = "applying" if step.direction == "upgrade" else "reverting"
        position = f"[{self.count + 1}/{max(self.total or 0, self.count + 1)}] "
        elapsed = time.monotonic() - self._started
        self.stream.write(f"\r\033[K{position}{verb} {step.revision}  {elapsed:.1f}s")
        self.stream.flush()
        self._drawn = True

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._drawn = False

    def _echo(self, message: str) -> None:
        click.echo(message, file=self.stream)

    def clear_for_output(self) -> None:
        """Clear the live line before a migration writes to the terminal (see `OutputGuard`)."""
        with self._lock:
            self._clear()


class OutputGuard:
    """sys.stdout while migrations run: clears the live line before the migration's own output."""

    def __init__(self, progress: Progress, stream):
        self._progress = progress
        self._stream = stream

    def write(self, text: str) -> int:
        if text:
            self._progress.clear_for_output()
        return self._stream.write(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)
