"""A local imitation of the messaging provider, for tests, the demo and benchmarks.

Send endpoints (both answer like the real thing, errors in Meta's ``{"error": {"code"...}}``):

- ``POST /v1/messages``: BSP format ``{"to", "type", "interactive"}`` -> ``{"message_id"}``.
- ``POST /{version}/{phone_number_id}/messages``: Cloud API format -> ``{"messages": [{"id"}]}``.

Each request is checked in this order: bearer token (401/190), the sender's token bucket
(429/130429 + Retry-After; every request past auth takes a token), JSON (400/100), fault rules,
``fail_rate`` (503/131016), the message model (400/100 + field path), the pair limit
(400/131056). Accepted messages are counted (duplicates by ``Idempotency-Key``, falling back to
``biz_opaque_callback_data``, and by recipient + identical interactive block).

Controls: ``GET /_sandbox/stats``, ``GET /_sandbox/messages?limit=&offset=``,
``GET /_sandbox/keys/{key}``, ``GET|POST|DELETE /_sandbox/faults``, ``GET|POST /_sandbox/config``,
``POST /_sandbox/reset`` (counters and limiter state; settings and fault rules stay).
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
