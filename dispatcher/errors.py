"""Errors meant for the person at the keyboard: one line, no traceback."""

from __future__ import annotations


class DispatcherError(Exception):
    """Base of the errors the CLI and the HTTP service turn into a clear one-line message."""

    exit_code = 1


class ConfigError(DispatcherError):
    """A bad setting or configuration file."""

    exit_code = 2


class InputError(DispatcherError):
    """A bad input file or argument (the message says what, where and why)."""

    exit_code = 2


class NotFoundError(DispatcherError):
    """A campaign or job id that does not exist."""

    exit_code = 1
