"""Where ``run.py`` files written before 0.2 import ``main`` from; it lives in `bridge.cli.runpy`."""

from .cli.runpy import main

__all__ = ["main"]
