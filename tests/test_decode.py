"""Decoding: the seed example exactly, strict and lenient passes, ids as exact strings."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from weex_async import BatchCancelResult, CancelOrderResult
from weex_async._decode import decode, make_converter
from weex_async.errors import UnexpectedResponseError

SEED = {
    "result": True,
    "orderIds": ["596471064624628269"],
    "clientOids": [],
    "cancelOrderResultList": [
        {"err_msg": "", "order_id": "596471064624628269", "client_oid": "", "result": True}
    ],
    "failInfos": [],
}
STRICT = make_converter(strict=True)


def _decode(body: Any, strict: bool = False) -> BatchCancelResult:
    converter = STRICT if strict else make_converter()
    return decode(httpx.Response(200, json=body), BatchCancelResult, converter)


def test_seed_example_decodes_exactly_in_strict_mode() -> None:
    item = CancelOrderResult(order_id="596471064624628269", client_oid="", result=True, err_msg="")
    assert _decode(SEED, strict=True) == BatchCancelResult(
        result=True,
        order_ids=("596471064624628269",),
        client_oids=(),
        cancel_order_result_list=(item,),
        fail_infos=(),
    )


def test_unknown_keys_tolerated_leniently_forbidden_strictly() -> None:
    body: dict[str, Any] = copy.deepcopy(SEED)
    body["newField"] = 1
    body["cancelOrderResultList"][0]["extra"] = "x"
    assert _decode(body).result is True
    with pytest.raises(UnexpectedResponseError, match="newField"):
        _decode(body, strict=True)


def test_ids_sent_as_numbers_become_exact_strings() -> None:
    body: dict[str, Any] = copy.deepcopy(SEED)
    body["orderIds"] = [596471064624628269]
    body["cancelOrderResultList"][0]["order_id"] = 596471064624628269
    result = _decode(body, strict=True)
    assert result.order_ids == ("596471064624628269",)
    assert result.cancel_order_result_list[0].order_id == "596471064624628269"


def test_optional_symbol_and_err_code() -> None:
    body = copy.deepcopy(SEED)
    body["symbol"] = "cmt_btcusdt"
    body["failInfos"] = [
        {
            "err_msg": "FAILED_ORDER_NOT_FOUND",
            "order_id": "1",
            "client_oid": "",
            "result": False,
            "err_code": 50005,
        }
    ]
    result = _decode(body, strict=True)
    assert result.symbol == "cmt_btcusdt"
    assert result.fail_infos[0].err_code == "50005"
    assert result.fail_infos[0].result is False


@pytest.mark.parametrize(
    "body",
    [
        {"result": "maybe"},
        {"orderIds": []},
        [1, 2],
        {"result": True, "orderIds": [1.5]},
        {"result": True, "cancelOrderResultList": [{"order_id": "1"}]},
    ],
)
def test_wrong_shape_is_a_decode_error_with_the_body(body: Any) -> None:
    with pytest.raises(UnexpectedResponseError) as info:
        _decode(body)
    assert info.value.status_code == 200
    assert info.value.body  # the raw text is attached
    assert "Traceback" not in str(info.value)


def test_string_booleans_are_not_truthy() -> None:
    assert _decode({"result": "false"}).result is False


def test_a_null_list_inside_an_answer_is_empty_but_a_null_answer_list_is_refused() -> None:
    body = copy.deepcopy(SEED)
    body["failInfos"] = None
    body["clientOids"] = None
    result = _decode(body, strict=True)
    assert (result.fail_infos, result.client_oids) == ((), ())
    for wrapped in ({"code": "00000", "data": None}, {"code": 0, "data": None}):
        answer = httpx.Response(200, json=wrapped)
        with pytest.raises(UnexpectedResponseError, match="data is null") as info:
            decode(answer, tuple[CancelOrderResult, ...])
        assert info.value.body
    empty = httpx.Response(200, json={"code": "00000", "data": []})
    assert decode(empty, tuple[CancelOrderResult, ...]) == ()
