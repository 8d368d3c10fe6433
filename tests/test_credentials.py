from __future__ import annotations

import pytest

from weex_async import Credentials, WeexClient
from weex_async.errors import ConfigurationError
from weex_async.testing import FakeExchange


def test_repr_never_shows_secrets() -> None:
    creds = Credentials("public-key-123", "super-secret-value", "my-passphrase")
    for text in (repr(creds), str(creds), repr(WeexClient(creds))):
        assert "super-secret-value" not in text
        assert "my-passphrase" not in text
        assert "publ" in text


def test_from_env_reads_three_variables() -> None:
    env = {"WEEX_API_KEY": "k", "WEEX_API_SECRET": "s", "WEEX_API_PASSPHRASE": "p"}
    assert Credentials.from_env(env) == Credentials("k", "s", "p")


def test_from_env_names_every_missing_variable() -> None:
    with pytest.raises(ConfigurationError) as info:
        Credentials.from_env({"WEEX_API_KEY": "k", "WEEX_API_SECRET": ""})
    message = str(info.value)
    assert "WEEX_API_SECRET" in message
    assert "WEEX_API_PASSPHRASE" in message
    assert "WEEX_API_KEY" not in message


def test_from_env_uses_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEEX_API_KEY", "k1")
    monkeypatch.setenv("WEEX_API_SECRET", "s1")
    monkeypatch.setenv("WEEX_API_PASSPHRASE", "p1")
    assert Credentials.from_env().api_key == "k1"


def test_empty_values_refused() -> None:
    with pytest.raises(ConfigurationError, match="api_secret"):
        Credentials("k", "", "p")


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("passphrase", "pass-from-a-file\n"),
        ("passphrase", "pass\r\nX-Injected: 1"),
        ("api_key", "my-key-value\x00"),
        ("api_key", " my-key-value"),
        ("passphrase", "pass\u0085word"),  # a C1 control (NEL)
        ("api_secret", "secret-from-a-file\n"),
        ("api_secret", "sec\x00ret"),
    ],
)
def test_values_that_cannot_be_sent_are_refused_without_showing_them(field: str, bad: str) -> None:
    values = {"api_key": "key-1", "api_secret": "secret-1", "passphrase": "pass-1", field: bad}
    with pytest.raises(ConfigurationError, match=f"Credentials.{field}") as info:
        Credentials(**values)
    assert bad.strip() not in str(info.value)
    assert bad not in str(info.value)


def test_printable_values_are_taken() -> None:
    Credentials("key-1", "s3cr+t/with=signs and space", "Pässwörd")
    Credentials(api_key="…", api_secret="…", passphrase="…")  # the placeholders of the docs


async def test_a_passphrase_beyond_ascii_is_sent_as_utf8_and_accepted() -> None:
    # Before: the fake exchange compared str headers with hmac.compare_digest, which raises
    # TypeError for non-ASCII text: every call of such an account ended as "unexpected error".
    exchange = FakeExchange()
    exchange.add_account("key-1", "secret-1", "Pässwörd…")
    ids = exchange.place_resting_orders("key-1", 3)
    creds = Credentials("key-1", "secret-1", "Pässwörd…")
    async with WeexClient(creds, transport=exchange.transport()) as client:
        report = await client.cancel_orders(ids, symbol="cmt_btcusdt")
    assert sorted(report.cancelled) == sorted(ids)
