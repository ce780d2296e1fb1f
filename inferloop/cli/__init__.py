"""The `inferloop-tabular` command line: serve the platform, and the client commands of every system."""

from inferloop.cli.main import main

__all__ = ["main"]
