"""The ``dispatcher`` command line. Each command is a thin wrapper over a library function."""

from __future__ import annotations

from dispatcher.cli.app import app, main

__all__ = ["app", "main"]
