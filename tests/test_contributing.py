"""CONTRIBUTING.md's map names every module of the package, so a newcomer finds each one."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_map_names_every_module() -> None:
    text = (ROOT / "CONTRIBUTING.md").read_text()
    package = ROOT / "weex_async"
    modules = [p.relative_to(package).as_posix() for p in sorted(package.rglob("*.py"))]
    assert len(modules) > 30
    missing = [m for m in modules if f"`{m}`" not in text]
    assert not missing, f"not in CONTRIBUTING.md's map: {missing}"
