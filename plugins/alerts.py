"""`alerts`: webhook alerts when a deployment's circuit opens or a model's error rate spikes.

Each alert goes to every configured webhook, as generic JSON or as a Slack-compatible
``{"text": ...}`` body, and is de-duplicated: the same alert (same kind and subject) is not
sent again within `dedup_window` -- across workers too, through the `[state] kv` store.
Other plugins send their own alerts through the same webhooks with `send_alert`.

Per-call events for analytics are the `webhook` contrib package's job, not this plugin's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import attrs
import httpx
import orjson

from litegate import Call, Gateway, GatewayError, hookimpl
from litegate.config_types import Duration, Secret

from .metrics import circuit_states

__all__ = ["AlertsPlugin", "Webhook", "send_alert"]

log = logging.getLogger("litegate.alerts")


def _http_url(_instance: Any, _attribute: Any, value: Secret) -> None:
    parts = urlsplit(value.reveal())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an http:// or https:// URL with a host")


@attrs.frozen
class Webhook:
    #: Where alerts are POSTed. A secret: Slack's URLs carry their token.
    url: Secret = attrs.field(validator=_http_url)
    #: "json" (the generic body, see docs/observability.md) or "slack" (``{"text": ...}``).
    format: str = attrs.field(default="json", validator=attrs.validators.in_(("json", "slack")))
    #: Extra request headers (for example an authorization header).
    headers: dict[str, Secret] = attrs.field(factory=dict)


class AlertsPlugin:
    """Circuit and error-rate alerts to webhooks; see docs/observability.md."""

    @attrs.frozen
    class Config:
        #: The receivers; every alert goes to each.
        webhooks: list[Webhook] = attrs.field(factory=list)
        #: Alert when at least this share (0..1) of a model's calls in `window` failed with
        #: a 5xx status (0: no error-rate alerts).
        error_rate: float = attrs.field(
            default=0.5,
            validator=attrs.validators.and_(attrs.validators.ge(0.0), attrs.validators.le(1.0)),
        )
        #: ... counted over this sliding window,
        window: Duration = Duration(60)
        #: ... once the window holds at least this many calls.
        min_calls: int = attrs.field(default=20, validator=attrs.validators.ge(1))
        #: Alert when a deployment's circuit opens (the router's cool-down).
        circuit: bool = True
        #: How often circuit states are checked.
        check_interval: Duration = Duration(5)
        #: The same alert is not sent again within this time.
        dedup_window: Duration = Duration(300)
        #: Share de-duplication between workers through `[state] kv`.
        shared_dedup: bool = True
        #: Timeout of one webhook POST.
        timeout: Duration = Duration(5)

    def __init__(self, config: Config) -> None:
        self.config = config
        #: Alerts sent since start-up (kind, subject), for tests and the admin API.
        self.sent: list[tuple[str, str]] = []
        self._calls: dict[str, deque[tuple[float, bool]]] = {}
        self._last_sent: dict[str, float] = {}
        self._open: dict[str, bool] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._watchers: list[asyncio.Task[Any]] = []
        self._state: list[Any] = []  # the kv store, once opened
        self._client: list[httpx.AsyncClient] = []

    # -- hooks ---------------------------------------------------------------------------

    @hookimpl
    async def startup(self, gateway: Gateway) -> None:
        self._client.append(httpx.AsyncClient(timeout=float(self.config.timeout), trust_env=False))
        if self.config.shared_dedup:
            self._state.append(await gateway.open_state())
        if self.config.circuit:
            self._watchers.append(asyncio.ensure_future(self._watch_circuits(gateway)))

    @hookimpl
    async def shutdown(self) -> None:
        for task in list(self._watchers):
            task.cancel()
        for task in [*self._watchers, *self._tasks]:  # deliveries in progress finish
            with contextlib.suppress(BaseException):
                await task
        for client in self._client:
            await client.aclose()
        # A gateway may start again (in-process use): it gets fresh ones.
        self._client.clear()
        self._state.clear()
        self._watchers.clear()

    @hookimpl
    def on_success(self, call: Call) -> None:
        if self.config.error_rate:
            self._count(call, failed=False)

    @hookimpl
    def on_failure(self, call: Call, error: GatewayError) -> None:
        if self.config.error_rate:
            self._count(call, failed=error.status >= 500 and error.status != 499)

    # -- sending -------------------------------------------------------------------------

    async def alert(
        self, kind: str, subject: str, message: str, details: dict[str, Any] | None = None
    ) -> bool:
        """Send one alert to every webhook unless the same (kind, subject) was sent within
        `dedup_window`; True when it was sent."""
        key = f"{kind}:{subject}"
        now = time.monotonic()
        window = float(self.config.dedup_window)
        last = self._last_sent.get(key)
        if last is not None and now - last < window:
            return False
        self._last_sent[key] = now
        if self._state:
            fresh = await self._state[0].compare_and_set(
                f"alerts:{key}", None, b"1", ttl=window or None
            )
            if not fresh:
                return False  # another worker sent it
        self.sent.append((kind, subject))
        body = {
            "alert": kind,
            "subject": subject,
            "message": message,
            "details": details or {},
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "source": "litegate",
        }
        log.warning("alert %s: %s", kind, message)
        await asyncio.gather(*(self._post(hook, body) for hook in self.config.webhooks))
        return True

    async def _post(self, hook: Webhook, body: dict[str, Any]) -> None:
        payload = body if hook.format == "json" else {"text": f"[litegate] {body['message']}"}
        headers = {"content-type": "application/json"}
        headers.update({name: value.reveal() for name, value in hook.headers.items()})
        host = urlsplit(hook.url.reveal()).hostname  # never log the URL: it may hold a token
        try:
            response = await self._client[0].post(
                hook.url.reveal(), content=orjson.dumps(payload), headers=headers
            )
            if response.status_code >= 300:
                log.error("alert webhook at %s answered %d", host, response.status_code)
        except httpx.HTTPError as exc:
            log.error("alert webhook at %s failed: %s", host, type(exc).__name__)

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- detectors -----------------------------------------------------------------------

    def _count(self, call: Call, failed: bool) -> None:
        model = call.deployment.alias if call.deployment is not None else None
        if model is None:
            return  # not routed (unknown model, rejected before routing): no model to blame
        now = time.monotonic()
        calls = self._calls.get(model)
        if calls is None:
            calls = self._calls[model] = deque()
        calls.append((now, failed))
        horizon = now - float(self.config.window)
        while calls and calls[0][0] < horizon:
            calls.popleft()
        if len(calls) < self.config.min_calls or not failed:
            return
        failures = sum(1 for _at, bad in calls if bad)
        rate = failures / len(calls)
        if rate >= self.config.error_rate:
            message = (
                f"model '{model}': {failures} of the last {len(calls)} calls failed "
                f"({rate:.0%}) within {float(self.config.window):g}s"
            )
            details = {"model": model, "failures": failures, "calls": len(calls), "rate": rate}
            self._spawn(self.alert("error_rate", model, message, details))

    async def _watch_circuits(self, gateway: Gateway) -> None:
        interval = float(self.config.check_interval)
        while True:
            await asyncio.sleep(interval)
            for deployment, alias, is_open in circuit_states(gateway):
                was_open = self._open.get(deployment, False)
                self._open[deployment] = is_open
                if is_open and not was_open:
                    message = f"deployment '{deployment}' of model '{alias}' is cooling down"
                    details = {"deployment": deployment, "model": alias}
                    with contextlib.suppress(Exception):
                        await self.alert("circuit_open", deployment, message, details)


async def send_alert(
    gateway: Gateway,
    kind: str,
    subject: str,
    message: str,
    details: dict[str, Any] | None = None,
) -> bool:
    """Send an alert through the gateway's `alerts` plugin (de-duplicated like its own);
    False when it was a duplicate or no `alerts` plugin is in the pipeline (then it is only
    logged). For other plugins: ``await send_alert(gateway, "budget", key_id, "...")``."""
    for plugin in gateway.plugins:
        if isinstance(plugin, AlertsPlugin):
            return await plugin.alert(kind, subject, message, details)
    log.warning("alert %s (no alerts plugin): %s", kind, message)
    return False
