"""Webhooks: notifications in the shape of the ZGW Notificaties API, delivered at least once from a
durable outbox (docs/events.md).

- `OutboxWriter` is a batch listener: for every object a write creates, changes or deletes, and
  every webhook whose `schemas` filter takes it, it adds an outbox message to the SAME store
  batch as the change. A write that is acknowledged has its messages on disk; a write that
  fails leaves none.
- `WebhookDelivery` drains the outbox in the background: due messages are POSTed, a 2xx answer
  deletes the message, anything else (or no answer) schedules a retry with capped exponential
  backoff (1 s, 2 s, 4 s, ... up to `max_retry_seconds`); after `max_attempts` the message stays
  as `failed` for `gateway outbox` and `GET /api/admin/outbox` to show.

Header values (tokens) stay in gateway.yaml; the outbox holds the webhook's id and URL only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway_core.context import RequestContext
from gateway_core.errors import ProblemError
from gateway_core.linking import ObjectChange
from gateway_core.query import Condition, ListQuery, Order
from gateway_core.sections import WebhookConfig
from gateway_core.sources import OutboundHttp
from gateway_core.storage import Change, Delete, Put, Store, StoredObject

log = logging.getLogger("gateway.webhooks")

OUTBOX = "gateway:outbox"
_ACTIONS = {"create": "create", "update": "update", "delete": "destroy"}


def without_userinfo(url: str) -> str:
    """The URL as shown in the outbox and logs: a `user:password@` in it is never stored."""
    return re.sub(r"^(\w+://)[^@/]+@", r"\1***@", url)


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def _resource_name(title: str) -> str:
    compact = re.sub(r"\W", "", title)
    return compact[:1].lower() + compact[1:]


class OutboxWriter:
    """The batch listener that turns object changes into outbox messages."""

    def __init__(
        self,
        webhooks: Sequence[WebhookConfig],
        routes: Mapping[str, str],
        titles: Mapping[str, str],
        public_url: str,
    ) -> None:
        self.webhooks = tuple(webhooks)
        self.routes = (
            routes  # schema $id -> the path of its first endpoint ("/api/kic/v1/partijen")
        )
        self.titles = titles
        self.public_url = public_url.rstrip("/")

    def message(self, change: ObjectChange, context: RequestContext, stamp: str) -> dict[str, Any]:
        route = self.routes[change.schema_id]
        url = f"{self.public_url}{route}/{change.object_id}"
        action = _ACTIONS[change.action]
        if change.primary and change.action == "update" and context.method == "PATCH":
            action = "partial_update"
        return {
            "kanaal": route.rsplit("/", 1)[-1],
            "hoofdObject": url,
            "resource": _resource_name(self.titles[change.schema_id]),
            "resourceUrl": url,
            "actie": action,
            "aanmaakdatum": stamp,
            "kenmerken": {"objecttype": change.schema_id},
        }

    def __call__(
        self, changes: Sequence[ObjectChange], context: RequestContext
    ) -> Sequence[Change]:
        if not self.webhooks:
            return []
        moment = _now()
        stamp = _stamp(moment)
        messages: list[Change] = []
        for change in changes:
            if change.schema_id not in self.routes:
                continue
            message = self.message(change, context, stamp)
            for hook in self.webhooks:
                if not hook.takes(change.schema_id):
                    continue
                body = {**message, "kanaal": hook.kanaal or message["kanaal"]}
                data = {
                    "webhook": hook.id,
                    "url": without_userinfo(hook.url),
                    "message": body,
                    "status": "pending",
                    "attempts": 0,
                    "nextAttempt": stamp,
                    "lastError": None,
                }
                record = StoredObject(str(uuid.uuid4()), stamp, stamp, data, context.client_id)
                messages.append(Put(OUTBOX, record))
        return messages


def _pending_query(moment: datetime, limit: int) -> ListQuery:
    return ListQuery(
        (
            Condition("status", "eq", "pending", "string", "status"),
            Condition("nextAttempt", "lte", moment, "date-time", "nextAttempt"),
        ),
        order=(Order("_self.dateCreated", False, "date-time"),),
        limit=limit,
    )


async def outbox_messages(
    store: Store, status: str | None = None, limit: int = 1000
) -> list[StoredObject]:
    """The outbox, oldest first (pending and failed, or one of them)."""
    conditions = (Condition("status", "eq", status, "string", "status"),) if status else ()
    order = (Order("_self.dateCreated", False, "date-time"),)
    page = await store.query(OUTBOX, ListQuery(conditions, order=order, limit=limit))
    return page.items


async def retry_failed(store: Store) -> int:
    """Queue every failed message again (attempts start over); returns how many."""
    failed = await outbox_messages(store, "failed")
    now = _stamp(_now())
    changes: list[Change] = [
        Put(
            OUTBOX,
            StoredObject(
                record.id,
                record.created,
                now,
                {**record.data, "status": "pending", "attempts": 0, "nextAttempt": now},
                record.owner,
                record.version + 1,
            ),
        )
        for record in failed
    ]
    if changes:
        await store.write(changes)
    return len(changes)


class WebhookDelivery:
    """Drains the outbox: runs as one background task per gateway process (with PostgreSQL and
    several workers, only the process holding the store's delivery lock delivers)."""

    def __init__(
        self,
        store: Store,
        webhooks: Sequence[WebhookConfig],
        http: OutboundHttp,
        poll_seconds: float = 1.0,
        concurrency: int = 4,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.store = store
        self.webhooks = {hook.id: hook for hook in webhooks}
        self.http = http
        self.poll_seconds = poll_seconds
        self.clock = clock
        self._wake = asyncio.Event()
        self._limit = asyncio.Semaphore(concurrency)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        async with self._leadership():
            while True:
                try:
                    await self.deliver_due()
                except Exception:
                    log.exception("webhook delivery round failed; retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
                self._wake.clear()

    @contextlib.asynccontextmanager
    async def _leadership(self) -> AsyncIterator[None]:
        lock = getattr(self.store, "exclusive", None)  # PostgreSQL: one deliverer per database
        if lock is None:
            yield
            return
        async with lock("webhook-delivery"):
            yield

    async def deliver_due(self) -> int:
        """Deliver every message that is due now; returns how many were attempted."""
        attempted = 0
        while True:
            due = (await self.store.query(OUTBOX, _pending_query(self.clock(), 50))).items
            if not due:
                return attempted
            await asyncio.gather(*(self._deliver(record) for record in due))
            attempted += len(due)

    async def _deliver(self, record: StoredObject) -> None:
        async with self._limit:
            data = record.data
            hook = self.webhooks.get(data["webhook"])
            error: str | None = None
            if hook is None:
                error = "the webhook is no longer configured"
            else:
                try:
                    answer = await self.http.send(
                        f"Webhook receiver {without_userinfo(hook.url)}",
                        "POST",
                        hook.url,
                        timeout=hook.timeout,
                        headers=dict(hook.headers),
                        body=data["message"],
                    )
                    if 200 <= answer.status < 300:
                        await self.store.write([Delete(OUTBOX, record.id)])
                        return
                    error = (
                        f"Webhook receiver {without_userinfo(hook.url)} answered {answer.status}."
                    )
                except ProblemError as problem:
                    error = problem.detail
            attempts = int(data["attempts"]) + 1
            max_attempts = hook.max_attempts if hook else attempts
            failed = attempts >= max_attempts
            delay = hook.retry_after(attempts) if hook else 0.0
            now = self.clock()
            updated = {
                **data,
                "attempts": attempts,
                "lastError": error,
                "status": "failed" if failed else "pending",
                "nextAttempt": _stamp(now + timedelta(seconds=delay)),
            }
            changed = StoredObject(
                record.id, record.created, _stamp(now), updated, record.owner, record.version + 1
            )
            await self.store.write([Put(OUTBOX, changed)])
            level = logging.WARNING if failed else logging.INFO
            log.log(
                level,
                "webhook %s: delivery %d of %s failed (%s)%s",
                data["url"],
                attempts,
                data["message"].get("resourceUrl"),
                error,
                "; giving up" if failed else f"; retrying in {delay:g} s",
            )
