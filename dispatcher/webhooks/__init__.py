"""The provider's webhooks: handshake, signature on the raw bytes, statuses and replies."""

from dispatcher.webhooks.parse import BodyError, Notifications, parse_body
from dispatcher.webhooks.receiver import MAX_BODY_BYTES, WebhookReceiver, WebhookRefused
from dispatcher.webhooks.signature import sign, signature_ok, verify_token_ok

__all__ = ["MAX_BODY_BYTES", "BodyError", "Notifications", "WebhookReceiver", "WebhookRefused",
           "parse_body", "sign", "signature_ok", "verify_token_ok"]
