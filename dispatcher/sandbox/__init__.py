"""A local imitation of the messaging provider, for tests, the demo and benchmarks.

It serves both wire formats (BSP ``POST /v1/messages`` and Cloud API
``POST /{version}/{phone_number_id}/messages``), validates bodies with the project's message
model, enforces a per-sender rate limit and the per-recipient pair limit, injects faults
(random 503s, scripted answers, hangs, dropped connections), counts everything (duplicates
included) under ``/_sandbox/*``, and can post signed status webhooks back.
"""

from dispatcher.sandbox.app import Sandbox, create_app
from dispatcher.sandbox.callbacks import sign
from dispatcher.sandbox.config import (
    ConfigValueError,
    FaultRule,
    SandboxConfig,
    config_from_dict,
)
from dispatcher.sandbox.process import (
    SandboxClient,
    SandboxProcess,
    SandboxThread,
    start_sandbox_process,
)
from dispatcher.sandbox.server import run_server, serve
from dispatcher.sandbox.stats import sender_id

__all__ = [
    "ConfigValueError",
    "FaultRule",
    "Sandbox",
    "SandboxClient",
    "SandboxConfig",
    "SandboxProcess",
    "SandboxThread",
    "config_from_dict",
    "create_app",
    "run_server",
    "sender_id",
    "serve",
    "sign",
    "start_sandbox_process",
]
