"""What goes on the wire, byte for byte, and how undocumented answers are read."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from weex_async import (
    CancelOrderResult,
    OrderAck,
    OrderRequest,
)
from weex_async._api import OUTCOME_UNKNOWN

from .helpers import limit_order, sent_by

# -- what goes on the wire ---------------------------------------------------------------------


async def test_v2_place_order_body() -> None:
    order = OrderRequest(
        "cmt_btcusdt",
        "SELL",
        "LONG",
        "0.5",
        price="70000",
        time_in_force="POST_ONLY",
        client_oid="c1",
        take_profit_price="71000",
        stop_loss_price=69000,
    )
    request, ack = await sent_by(
        "v2", lambda c: c.place_order(order), {"client_oid": None, "order_id": "596471064624628269"}
    )
    assert (request.method, request.url.path) == ("POST", "/capi/v2/order/placeOrder")
    assert json.loads(request.content) == {
        "symbol": "cmt_btcusdt",
        "client_oid": "c1",
        "size": "0.5",
        "type": "3",  # close long
        "order_type": "1",  # post-only
        "match_price": "0",
        "price": "70000",
        "presetTakeProfitPrice": "71000",
        "presetStopLossPrice": "69000",
    }
    assert ack == OrderAck("596471064624628269", "c1")  # null client_oid: the one we sent


async def test_v3_place_order_body() -> None:
    market = OrderRequest("BTCUSDT", "BUY", "SHORT", "3", order_type="MARKET", client_oid="c.1")
    answer = {"orderId": 7023, "clientOrderId": "c.1", "success": True}
    request, ack = await sent_by("v3", lambda c: c.place_order(market), answer)
    assert (request.method, request.url.path) == ("POST", "/capi/v3/order")
    assert json.loads(request.content) == {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "positionSide": "SHORT",
        "type": "MARKET",
        "quantity": "3",
        "newClientOrderId": "c.1",
    }
    assert ack == OrderAck("7023", "c.1", True, "", "")


async def test_v3_cancel_one_and_cancel_all_go_in_the_query() -> None:
    item = {"orderId": "1", "origClientOrderId": "a", "success": True}
    request, result = await sent_by("v3", lambda c: c.cancel_order(client_oid="a:b/c"), item)
    assert (request.method, request.url.path, request.content) == (
        "DELETE",
        "/capi/v3/order",
        b"",
    )
    assert request.url.params == httpx.QueryParams({"origClientOrderId": "a:b/c"})
    assert result == CancelOrderResult("1", "a", True, "", None)
    request, _ = await sent_by("v3", lambda c: c.cancel_all_orders("BTCUSDT"), [])
    assert str(request.url).endswith("/capi/v3/allOpenOrders?symbol=BTCUSDT")


@pytest.mark.parametrize(
    ("answer", "cancelled"),
    [
        ({"result": True}, ()),
        ([{"order_id": "1", "client_oid": None, "result": True, "err_msg": None}], ("1",)),
        (
            {
                "cancelOrderResultList": [
                    {"order_id": "1", "client_oid": "", "result": True, "err_msg": ""},
                    {"order_id": "2", "client_oid": "", "result": True, "err_msg": ""},
                ],
                "failInfos": [
                    {"order_id": "2", "client_oid": "", "result": False, "err_msg": "busy"}
                ],
            },
            ("1",),
        ),
        ([{"orderId": 9, "success": True}, "junk", {"order_id": []}], ("9",)),
        ("ok", ()),
    ],
)
async def test_v2_cancel_all_reads_any_answer(answer: Any, cancelled: tuple[str, ...]) -> None:
    request, result = await sent_by("v2", lambda c: c.cancel_all_orders(), answer)
    assert (request.url.path, json.loads(request.content)) == (
        "/capi/v2/order/cancelAllOrders",
        {"cancelOrderType": "normal"},
    )
    assert result.cancelled == cancelled
    assert result.raw == answer  # nothing the exchange said is lost


async def test_batch_place_answer_missing_an_order() -> None:
    orders = [limit_order("v2", "x1"), limit_order("v2", "x2")]
    answer = {"order_info": [{"order_id": "5", "client_oid": "x1", "result": True}]}
    _, acks = await sent_by("v2", lambda c: c.place_orders(orders), answer)
    assert acks[0] == OrderAck("5", "x1", True, "", "")
    assert (acks[1].client_oid, acks[1].success, acks[1].error_code) == (
        "x2",
        False,
        OUTCOME_UNKNOWN,
    )
