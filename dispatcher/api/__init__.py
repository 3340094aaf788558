"""The HTTP service: API, metrics, dashboard and webhook receiver (``dispatcher serve``)."""

from dispatcher.api.app import create_app

__all__ = ["create_app"]
