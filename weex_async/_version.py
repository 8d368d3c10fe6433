"""The installed distribution's version, in a module of its own: reading it imports nothing else
of the package (``cli`` and the metrics read it without pulling in the client)."""

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("weex-async")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"
