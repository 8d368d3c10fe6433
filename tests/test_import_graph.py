"""The package's imports form no cycle, of any kind (type-only imports included): a cycle is a
boundary in the wrong place. Read from the sources, so nothing is imported to check it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "weex_async"


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports (``from . import x`` imports ``x``)."""
    here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            target = ".".join([*base, node.module] if node.module else base)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in modules else target)
    return {module for module in found if module in modules and module != name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The modules that import themselves through others, grouped by cycle."""

    def reach(start: str) -> set[str]:
        seen: set[str] = set()
        todo = list(graph[start])
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo.extend(graph[node])
        return seen

    reachable = {node: reach(node) for node in graph}
    cyclic = {node for node in graph if node in reachable[node]}
    groups = {
        frozenset(
            other for other in cyclic if other in reachable[node] and node in reachable[other]
        )
        for node in cyclic
    }
    return sorted(sorted(group) for group in groups)


def test_the_import_graph_has_no_cycle() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert graph["weex_async._limiter._client_limiter"] >= {"weex_async._limiter._rules"}
    assert _cycles(graph) == []


def test_a_cycle_is_found() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_limiter_asks_its_shared_ledger_never_reaches_through() -> None:
    """``Limiter`` and ``ClientLimiter`` use ``SharedLedger``'s own methods, never its ledger."""
    for module in ("_limiter.py", "_client_limiter.py"):
        text = (PACKAGE / "_limiter" / module).read_text()
        for reach in (".ledger.", ".users", ".settle ="):
            assert reach not in text, (module, reach)
