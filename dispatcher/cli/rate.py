"""``dispatcher rate``: a sender's shared rate limit."""

from __future__ import annotations
