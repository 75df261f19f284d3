"""The `webhook` plugin: its config and the hooks that feed the outbox."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import attrs

from litegate import Call, GatewayError, hookimpl
from litegate.config_types import Duration, Secret
from litegate.plugins.access_log import event_fields

from ._outbox import Outbox, WebhookStats

__all__ = ["WebhookPlugin"]

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


# Validators raise plain ValueErrors; litegate's config loader names the key that failed
# (`pipeline[2].url: ...`).
def _http_url(_instance: Any, _attribute: attrs.Attribute[Any], value: str) -> None:
    parts = urlsplit(value)
    # Only the scheme is echoed: a URL may carry a token.
    if parts.scheme not in ("http", "https"):
        shown = f'scheme "{parts.scheme}"' if parts.scheme else "no scheme"
        raise ValueError(f"expected an http:// or https:// URL, got {shown}")
    try:
        parts.port  # noqa: B018  # parsing it is the check: "host:abc" raises
    except ValueError:
        raise ValueError("the URL's port is not a number from 0 to 65535") from None
    if not parts.hostname:
        raise ValueError("expected a URL with a host, like https://example.com/events")


def _at_least(minimum: float) -> Any:
    def check(_instance: Any, _attribute: attrs.Attribute[Any], value: float) -> None:
        if value < minimum:
            raise ValueError(f"expected at least {minimum:g}, got {value:g}")

    return check


def _positive(_instance: Any, _attribute: attrs.Attribute[Any], value: float) -> None:
    if value <= 0:
        raise ValueError(f"expected a duration above zero, got {value:g}s")


def _header_names(_instance: Any, _attribute: attrs.Attribute[Any], value: dict[str, Any]) -> None:
    for name in value:
        if not _HEADER_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid HTTP header name")


class WebhookPlugin:
    """Queues each finished call's event and posts the queue in batches from a background task.

    The hooks only append to a bounded in-memory queue, so a slow or dead receiver never
    slows a response; see `Outbox` for batching, retries and the drop policy.
    """

    @attrs.frozen
    class Config:
        #: Where batches are POSTed (http:// or https://). Put credentials in `headers`.
        url: str = attrs.field(validator=_http_url)
        #: Extra request headers, e.g. ``authorization``. Values are secrets: never logged.
        headers: dict[str, Secret] = attrs.field(factory=dict, validator=_header_names)
        #: Most events in one POST; a full batch is sent at once.
        batch_size: int = attrs.field(default=100, validator=_at_least(1))
        #: A partial batch waits at most this long.
        flush_interval: Duration = attrs.field(default=Duration(1), validator=_positive)
        #: Most events held in memory; when full, new events are dropped (and counted).
        max_queue: int = attrs.field(default=10_000, validator=_at_least(1))
        #: Retries of a failed POST (connection errors, timeouts, 429 and 5xx); 0 = none.
        max_retries: int = attrs.field(default=3, validator=_at_least(0))
        #: Wait before the first retry; it doubles with each further one.
        retry_backoff: Duration = attrs.field(default=Duration(0.5), validator=_positive)
        #: Longest wait between retries (also caps a receiver's ``retry-after``).
        max_backoff: Duration = attrs.field(default=Duration(30), validator=_positive)
        #: Time limit for one POST.
        timeout: Duration = attrs.field(default=Duration(10), validator=_positive)
        #: How long shutdown may spend delivering what is still queued.
        shutdown_timeout: Duration = Duration(5)
        #: Also send the request's messages. Off by default: prompts are often personal data.
        include_messages: bool = False

    def __init__(self, config: Config) -> None:
        self.config = config
        self.outbox = Outbox(
            url=config.url,
            headers={name: secret.reveal() for name, secret in config.headers.items()},
            batch_size=config.batch_size,
            flush_interval=float(config.flush_interval),
            max_queue=config.max_queue,
            max_retries=config.max_retries,
            retry_backoff=float(config.retry_backoff),
            max_backoff=float(config.max_backoff),
            timeout=float(config.timeout),
        )

    @property
    def stats(self) -> WebhookStats:
        return self.outbox.stats

    @hookimpl
    async def startup(self) -> None:
        self.outbox.start()

    @hookimpl
    async def shutdown(self) -> None:
        await self.outbox.close(float(self.config.shutdown_timeout))

    @hookimpl
    def on_success(self, call: Call) -> None:
        self.outbox.put(event_fields(call, None, self.config.include_messages))

    @hookimpl
    def on_failure(self, call: Call, error: GatewayError) -> None:
        self.outbox.put(event_fields(call, error, self.config.include_messages))
