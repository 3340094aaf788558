"""dispatcher: bulk sending of WhatsApp interactive messages through rate-limited Celery workers."""

__version__ = "0.1.0"
