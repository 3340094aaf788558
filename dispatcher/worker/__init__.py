"""Celery workers: the app (``app.py``), the task (``tasks.py``), the send path (``sending.py``),
retries (``retry.py``) and recovery from dead workers (``recovery.py``)."""
