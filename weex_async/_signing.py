"""Request signing: the pure ``sign`` function, ``Credentials``, ``Signer`` (the headers of one
request, which both HTTP backends use) and the httpx middleware.

WEEX signs ``timestamp + METHOD + requestPath[?query] + body`` with HMAC-SHA256 keyed by the API
secret and sends the Base64 of the raw digest.  ``WeexAuth`` builds that pre-hash from the *final*
``httpx.Request`` (its raw path, raw query and exact body bytes), so what is signed is always what
goes on the wire, and it reads the clock once per request so the ``ACCESS-TIMESTAMP`` header and the
signed timestamp can never differ.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Callable, Generator, Mapping

import attrs
import httpx

from .errors import ConfigurationError

__all__ = ["Credentials", "Signer", "WeexAuth", "sign", "signed_headers"]

_ENV_NAMES = ("WEEX_API_KEY", "WEEX_API_SECRET", "WEEX_API_PASSPHRASE")


def sign(secret: str, timestamp: str, method: str, path_and_query: str, body: bytes | str) -> str:
    """Return WEEX's ``ACCESS-SIGN`` value for one request.

    Args:
        secret: the API secret (the HMAC key).
        timestamp: Unix time in milliseconds, as the string sent in ``ACCESS-TIMESTAMP``.
        method: the HTTP method; upper-cased here.
        path_and_query: the request path, plus ``?`` and the query string exactly as sent, if any.
        body: the exact body bytes (or text) sent; empty for GET.

    Returns:
        ``base64(hmac_sha256(secret, timestamp + METHOD + path_and_query + body))``.
    """
    if isinstance(body, str):
        body = body.encode()
    prehash = f"{timestamp}{method.upper()}{path_and_query}".encode() + body
    digest = hmac.new(secret.encode(), prehash, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _value_problem(value: str) -> str | None:
    """Why ``value`` cannot be used as it is, or ``None``.

    The key and the passphrase go in HTTP headers: a control character (CR, LF, NUL, ...) or white
    space at either end is refused by the HTTP layer (h11) with an error that quotes the value, so
    the secret would land in the error, the report and the CLI's output. The secret is never sent,
    but a line end kept from a file in it can only produce signatures the exchange refuses (and
    repeated refusals risk the key). Other characters (beyond ASCII) are sent as UTF-8 by both
    HTTP backends, so they are left to the exchange to judge.
    """
    if value != value.strip():
        return "has white space at its start or end"
    if any(ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 for char in value):
        return "contains a control character (CR, LF, NUL, ...)"
    return None


def _masked(value: str) -> str:
    return f"{value[:4]}…" if len(value) > 8 else "…"


@attrs.frozen(repr=False)
class Credentials:
    """An API key with its secret and passphrase.

    The secret and passphrase never appear in ``repr()`` or ``str()``; the key is shown masked.

    Attributes:
        api_key: the ``ACCESS-KEY``; identifies the account (the UID rate-limit pool is per key).
        api_secret: the HMAC secret used to sign requests.
        passphrase: the ``ACCESS-PASSPHRASE`` chosen when the key was created.
    """

    api_key: str
    api_secret: str
    passphrase: str

    def __attrs_post_init__(self) -> None:
        for name in ("api_key", "api_secret", "passphrase"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ConfigurationError(f"Credentials.{name} must be a non-empty string")
            problem = _value_problem(value)
            if problem is not None:  # the message never holds the value: it may be a secret
                raise ConfigurationError(
                    f"Credentials.{name} {problem} (read from a file? strip the line end)"
                )

    def __repr__(self) -> str:
        return f"Credentials(api_key='{_masked(self.api_key)}', api_secret=***, passphrase=***)"

    __str__ = __repr__

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Credentials:
        """Read ``WEEX_API_KEY``, ``WEEX_API_SECRET`` and ``WEEX_API_PASSPHRASE``.

        Args:
            environ: where to read from; ``os.environ`` by default.

        Raises:
            ConfigurationError: naming every variable that is missing or empty.
        """
        env = os.environ if environ is None else environ
        missing = [name for name in _ENV_NAMES if not env.get(name)]
        if missing:
            raise ConfigurationError(
                "missing environment variable(s) for WEEX credentials: " + ", ".join(missing)
            )
        return cls(*(env[name] for name in _ENV_NAMES))


class Signer:
    """The ``ACCESS-*`` headers of one request, from the exact target and body bytes it sends.

    Both HTTP backends call it once per request, after any rate-limit wait, with the bytes they
    put on the wire: the default backend from its final ``httpx.Request``, the aiohttp backend
    from the target and body it hands aiohttp unchanged. The clock is read once, so the
    ``ACCESS-TIMESTAMP`` header and the signed timestamp can never differ.

    Args:
        credentials: whose key signs.
        now_ms: the clock, in Unix milliseconds (the client passes its server-offset clock).
    """

    __slots__ = ("_credentials", "_now_ms")

    def __init__(self, credentials: Credentials, now_ms: Callable[[], int]) -> None:
        self._credentials = credentials
        self._now_ms = now_ms

    def __repr__(self) -> str:
        return f"Signer({self._credentials!r})"

    def __call__(self, method: str, path_and_query: str, body: bytes) -> dict[str, str]:
        """The headers for ``method path_and_query`` with ``body`` (the path and query exactly
        as sent, already encoded)."""
        credentials = self._credentials
        timestamp = str(self._now_ms())
        return {
            "ACCESS-KEY": credentials.api_key,
            "ACCESS-SIGN": sign(credentials.api_secret, timestamp, method, path_and_query, body),
            "ACCESS-TIMESTAMP": timestamp,
            "ACCESS-PASSPHRASE": credentials.passphrase,
        }


class WeexAuth(httpx.Auth):
    """Signs the final request: ``ACCESS-KEY``, ``-SIGN``, ``-TIMESTAMP``, ``-PASSPHRASE``.

    Args:
        credentials: whose key signs.
        now_ms: the clock, in Unix milliseconds (the client passes its server-offset clock).
            Read once per request, after any rate-limit wait, because httpx calls
            ``auth_flow`` inside ``send``.
    """

    requires_request_body = True

    def __init__(self, credentials: Credentials, now_ms: Callable[[], int]) -> None:
        self._credentials = credentials
        self._signer = Signer(credentials, now_ms)

    def __repr__(self) -> str:
        return f"WeexAuth({self._credentials!r})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(signed_headers(self._signer, request))
        yield request


def signed_headers(signer: Signer, request: httpx.Request) -> dict[str, str]:
    """``signer``'s headers for a final ``httpx.Request``: its raw path (the path plus
    ``?query`` exactly as it goes on the wire, already encoded) and its exact body bytes."""
    return signer(request.method, request.url.raw_path.decode("ascii"), request.content)
