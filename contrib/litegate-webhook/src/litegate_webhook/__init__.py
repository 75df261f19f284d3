"""litegate-webhook: post each finished call's event as JSON to a URL, in batches.

Enable it in pipeline.toml with ``plugin = "webhook"`` and a ``url``; see the README for the
keys, the body's shape and the delivery guarantees.
"""

from ._outbox import WebhookStats
from ._plugin import WebhookPlugin

__version__ = "0.1.0"

__all__ = ["WebhookPlugin", "WebhookStats", "__version__"]
