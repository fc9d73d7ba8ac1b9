"""The dependency direction of the house (README, "Architecture"), read from the imports.

entry points (bot/cli, bot/ops) -> bot/wiring -> channels (bot/channels) -> services (bot/services)
-> knowledge, storage. knowledge is pure; storage never touches a channel; services never import a
channel, the wiring or a messenger library; no product module imports the tests; no import cycles.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("bot", "knowledge", "storage")
MESSENGERS = {"telegram", "wechatpy", "starlette", "fastapi", "uvicorn"}

# package (as a path prefix) -> top-level names or module prefixes it must not import
FORBIDDEN: dict[str, set[str]] = {
    "knowledge": {"telegram", "sqlmodel", "sqlalchemy", "alembic", "bot", "storage"},
    "storage": {"telegram", "bot"},
    "bot/services": MESSENGERS | {"bot.channels", "bot.cli", "bot.ops", "bot.wiring", "tests"},
    "bot/channels": {"bot.cli", "bot.ops", "bot.wiring", "tests"},
    "bot/wiring.py": {"bot.cli", "bot.ops", "bot.channels", "tests"},
    "bot/cli": {"tests"},
    "bot/ops": {"tests"},
}


def _modules(path: Path) -> set[str]:
    """Every absolute module a file imports (`a.b.c` for `from a.b import c` too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _hits(imported: set[str], banned: set[str]) -> set[str]:
    return {b for b in banned for m in imported if m == b or m.startswith(b + ".")}


def _files(prefix: str) -> list[Path]:
    target = ROOT / prefix
    return [target] if target.suffix == ".py" else sorted(target.rglob("*.py"))


@pytest.mark.parametrize("prefix", sorted(FORBIDDEN))
def test_a_layer_does_not_import_what_it_must_not(prefix: str) -> None:
    files = _files(prefix)
    assert files, f"no modules found in {prefix}"
    offenders = {
        str(path.relative_to(ROOT)): sorted(_hits(_modules(path), FORBIDDEN[prefix]))
        for path in files
        if _hits(_modules(path), FORBIDDEN[prefix])
    }
    assert offenders == {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _graph() -> dict[str, set[str]]:
    files = [p for package in PRODUCT for p in (ROOT / package).rglob("*.py")]
    known = {_module_name(p) for p in files}
    graph: dict[str, set[str]] = {}
    for path in files:
        targets = set()
        for name in _modules(path):
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != _module_name(path):
                targets.add(name)
        graph[_module_name(path)] = targets
    return graph


def _cycles(graph: dict[str, set[str]]) -> Iterator[list[str]]:
    """Yield one cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(node: str) -> Iterator[list[str]]:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                yield from visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                yield sorted(component)

    for node in sorted(graph):
        if node not in index:
            yield from visit(node)


def test_no_import_cycles_among_product_modules() -> None:
    # Package __init__ files that re-export their modules are not cycles of the code itself.
    graph = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in _graph().items()}
    assert list(_cycles(graph)) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert list(_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})) == [["a", "b", "c"]]


def test_only_the_wiring_builds_the_services() -> None:
    # Benchmarks (bot/ops) build throwaway services on their own scratch databases.
    builders = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "bot").rglob("*.py")
        if path.parent.name != "ops"
        and (
            "ConsultationService.create(" in path.read_text(encoding="utf-8")
            or "CampaignService(" in path.read_text(encoding="utf-8")
        )
    }
    assert builders == {"bot/wiring.py"}


def test_telegram_is_imported_only_by_its_channel_and_the_entry_points() -> None:
    allowed = ("bot/channels/telegram/", "bot/cli/", "bot/ops/")
    offenders = sorted(
        str(path.relative_to(ROOT))
        for package in PRODUCT
        for path in (ROOT / package).rglob("*.py")
        if _hits(_modules(path), {"telegram"})
        and not str(path.relative_to(ROOT)).startswith(allowed)
    )
    assert offenders == []
