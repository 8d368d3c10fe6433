"""Cancelling: the checks on a batch cancel's arguments, and the run behind ``cancel_orders``.

``cancel_orders`` splits any number of orders into batch cancels, runs them concurrently through the
limiter, retries what is safe to retry, and answers for every order asked for with exactly one
outcome: ``cancelled``, ``failed`` (the exchange refused: its reason) or ``unknown`` (no definite
answer: why).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ._decode import encode_body
from ._retry import Decision
from .errors import BadRequestError, InvalidRequestError, WeexAPIError, WeexError
from .models import BatchCancelResult, CancelOrderResult, CancelReport

if TYPE_CHECKING:
    from ._client import WeexClient

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "MAX_IDS_PER_CALL",
    "CancelRun",
    "check_symbol",
    "orders_to_cancel",
]

#: The most ids WEEX's V2 batch cancel accepts in one call (its error 40912's text).
MAX_IDS_PER_CALL = 50
#: Orders per batch cancel in ``cancel_orders``. The V2 maximum is not documented (the 40912 text
#: says 50; V3 allows 10): 50, halved for the rest of the session on a "too many ids" answer.
DEFAULT_BATCH_SIZE = 50
#: Client order ids: at most 40 characters (weex-api.md §6).
MAX_CID_LENGTH = 40
#: WEEX's "too many ids in one cancel" error code.
TOO_MANY_IDS = "40912"
#: Said of an order that was "not found" after an earlier attempt went unanswered.
MAYBE_CANCELLED_EARLIER = "an earlier attempt that got no answer may have cancelled it"

_DECIMAL = re.compile(r"[0-9]+")


def _names(key: str, values: Iterable[Any] | None) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, (str, bytes)):
        raise InvalidRequestError(f"{key} must be a list of strings, not a single string")
    items = list(values)
    for item in items:
        if not isinstance(item, str):
            raise InvalidRequestError(
                f"{key} must contain strings; got {type(item).__name__} {item!r}"
            )
        if key == "ids" and not _DECIMAL.fullmatch(item):
            raise InvalidRequestError(f"order id {item!r} is not a decimal string")
        if key == "cids" and not 1 <= len(item) <= MAX_CID_LENGTH:
            raise InvalidRequestError(
                f"client order id {item!r} must be 1 to {MAX_CID_LENGTH} characters"
            )
    return items


def orders_to_cancel(
    ids: Sequence[str] | None, cids: Sequence[str] | None, *, allow_empty: bool
) -> tuple[str, list[str]]:
    """Check the orders named and return ``("ids" | "cids", names)``. Nothing is sent on error."""
    id_list = _names("ids", ids)
    cid_list = _names("cids", cids)
    if id_list is not None and cid_list is not None:
        raise InvalidRequestError("pass ids or cids, not both (WEEX documents one list per call)")
    if id_list is None and cid_list is None:
        raise InvalidRequestError("pass ids or cids: the orders to cancel")
    key, names = ("ids", id_list) if id_list is not None else ("cids", cid_list)
    assert names is not None
    if not names and not allow_empty:
        raise InvalidRequestError(f"{key} is empty: pass at least one id")
    return key, names


def check_symbol(symbol: str | None) -> None:
    if symbol is not None and (not isinstance(symbol, str) or not symbol):
        raise InvalidRequestError("symbol must be a non-empty string such as 'cmt_btcusdt'")


def _is_not_found(item: CancelOrderResult) -> bool:
    return item.err_code == "50005" or "NOT_FOUND" in item.err_msg.upper().replace(" ", "_")


class CancelRun:
    """One ``cancel_orders`` call: the outcome of every order, filled in as answers come.

    Args:
        client: the client whose call path (limiter, signing, decoding) sends each attempt.
        key: ``"ids"`` or ``"cids"``.
        symbol: sent with every batch when given.
        deadline_at: loop time after which nothing more is sent; ``None`` for none.
    """

    def __init__(
        self, client: WeexClient, key: str, symbol: str | None, deadline_at: float | None
    ) -> None:
        self._client = client
        self._key = key
        self._symbol = symbol
        self._deadline_at = deadline_at
        self._loop = asyncio.get_running_loop()
        self.cancelled: dict[str, None] = {}
        self.failed: dict[str, str] = {}
        self.unknown: dict[str, str] = {}
        self.calls = 0
        #: names sent in an attempt that got no definite answer (the exchange may have acted)
        self._maybe_sent: set[str] = set()

    async def run(self, names: Sequence[str], batch_size: int) -> CancelReport:
        """Cancel ``names`` (distinct, validated) in batches of ``batch_size``, concurrently."""
        await asyncio.gather(
            *(
                self._batch(list(names[i : i + batch_size]))
                for i in range(0, len(names), batch_size)
            )
        )
        order = {name: index for index, name in enumerate(names)}
        return CancelReport(
            cancelled=tuple(sorted(self.cancelled, key=order.__getitem__)),
            failed=dict(sorted(self.failed.items(), key=lambda kv: order[kv[0]])),
            unknown=dict(sorted(self.unknown.items(), key=lambda kv: order[kv[0]])),
            calls=self.calls,
        )

    def _time_left(self) -> float | None:
        return None if self._deadline_at is None else self._deadline_at - self._loop.time()

    async def _batch(self, pending: list[str]) -> None:
        client = self._client
        attempt = 0
        resynced = False
        last_error = "no attempt was made"
        while pending:
            attempt += 1
            time_left = self._time_left()
            if time_left is not None and time_left <= 0:
                self._give_up(
                    pending, f"deadline reached after {attempt - 1} attempt(s): {last_error}"
                )
                return
            dialect = client._dialect
            content = encode_body(dialect.body(self._key, pending, self._symbol))
            self.calls += 1
            try:
                answer = await asyncio.wait_for(
                    client._attempt(dialect.endpoint, content, None, attempt), time_left
                )
                result = dialect.result(answer)
            except asyncio.TimeoutError:
                self._maybe_sent.update(pending)
                self._give_up(pending, f"deadline reached with attempt {attempt} unanswered")
                return
            except BadRequestError as exc:
                if exc.code == TOO_MANY_IDS and len(pending) > 1:
                    await self._split(pending)
                    return
                self._refused(pending, exc)
                return
            except WeexError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                if client.retry.outcome_unknown(exc):
                    self._maybe_sent.update(pending)
                decision = client.retry.decide(
                    exc,
                    attempt,
                    idempotent=True,
                    can_resync=client._sync_time and not resynced,
                    retry_unknown=True,
                )
                if decision is Decision.STOP:
                    if isinstance(exc, WeexAPIError) and not client.retry.outcome_unknown(exc):
                        self._refused(pending, exc)
                    else:
                        self._give_up(
                            pending, f"no answer after {attempt} attempt(s): {last_error}"
                        )
                    return
                resynced = resynced or decision is Decision.RESYNC
                await client._before_retry(decision, attempt)
                continue
            pending = self._absorb(result, pending)
            if pending:
                last_error = "missing from the exchange's answer"
                if attempt >= client.retry.max_attempts:
                    self._give_up(
                        pending, f"missing from the exchange's answer after {attempt} attempt(s)"
                    )
                    return

    async def _split(self, pending: list[str]) -> None:
        half = max(1, len(pending) // 2)
        self._client._batch_size = min(self._client._batch_size, half)
        await asyncio.gather(self._batch(pending[:half]), self._batch(pending[half:]))

    def _absorb(self, result: BatchCancelResult, pending: list[str]) -> list[str]:
        """Record each order's own verdict; return the names the answer did not mention."""
        by_name: dict[str, CancelOrderResult] = {}
        failed_names: set[str] = set()
        use_order_id = self._key == "ids"
        for item in result.cancel_order_result_list:
            by_name.setdefault(item.order_id if use_order_id else item.client_oid, item)
        for item in result.fail_infos:
            name = item.order_id if use_order_id else item.client_oid
            failed_names.add(name)
            by_name[name] = item
        listed = set(result.order_ids if use_order_id else result.client_oids)
        still_pending: list[str] = []
        for name in pending:
            verdict = by_name.get(name)
            if verdict is not None and verdict.result and name not in failed_names:
                self.cancelled[name] = None
            elif verdict is not None:
                reason = verdict.err_msg or verdict.err_code or "refused by the exchange"
                if name in self._maybe_sent and _is_not_found(verdict):
                    reason = f"{reason} ({MAYBE_CANCELLED_EARLIER})"
                self.failed[name] = reason
            elif name in listed:  # no item, but named in the top-level success list
                self.cancelled[name] = None
            else:
                still_pending.append(name)
        return still_pending

    def _refused(self, names: list[str], error: WeexAPIError) -> None:
        reason = f"{error.code or error.status_code}: {error.message}"
        for name in names:
            if name in self._maybe_sent:
                self.unknown[name] = f"refused ({reason}) after an unanswered attempt"
            else:
                self.failed[name] = reason

    def _give_up(self, names: list[str], reason: str) -> None:
        for name in names:
            self.unknown[name] = reason
