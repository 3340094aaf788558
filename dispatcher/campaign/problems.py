"""A fatal error located at a field: one line for people, ``path``/``reason`` for JSON."""

from __future__ import annotations

from dispatcher.errors import InputError

__all__ = ["FieldError"]


class FieldError(InputError):
    """A bad campaign spec field: ``str()`` is ``"<where>: <path>: <reason>"``."""

    def __init__(self, path: str, reason: str, where: str = "") -> None:
        self.path = path
        self.reason = reason
        self.where = where
        text = f"{path}: {reason}" if path else reason
        super().__init__(f"{where}: {text}" if where else text)
