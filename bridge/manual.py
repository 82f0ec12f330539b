"""Where legacy files' ``__main__`` blocks import ``run_file`` from (the template writes
``from bridge.manual import run_file``); it lives in `bridge.cli.manual`."""

from .cli.manual import run_file

__all__ = ["run_file"]
