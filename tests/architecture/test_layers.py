"""The rules of docs/architecture.md, checked on the source: layers, circles, sizes, cards."""

import ast
from pathlib import Path

import pytest

from tests.architecture.imports import (
    ROOT,
    external_imports,
    import_graph,
    layer_of,
    mermaid,
    module_name,
    source_files,
)

WEB_FRAMEWORKS = {"fastapi", "starlette", "uvicorn", "grpc", "httpx"}
FRAMEWORK_FREE = ("service.runtime", "service.tasks", "service.preprocessing", "service.card",
                  "service.errors", "service.ports")  # fmt: skip
MAX_LINES = 400
CARD_MODULES = {"service.card", "training.card"}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def _closure(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo += graph.get(module, ())
    return seen


def test_no_module_imports_from_a_higher_layer(graph):
    upward = [
        f"{source} -> {target}"
        for source, targets in graph.items()
        if source.startswith("service")
        for target in targets
        if target.startswith("service") and layer_of(target) > layer_of(source)
    ]
    assert not upward


def test_there_are_no_import_circles(graph):
    circles = []
    for module in graph:
        for target in graph[module]:
            if module in _closure(graph, target):
                circles.append(f"{module} <-> {target}")
    assert not circles


def test_the_runtime_tasks_and_error_table_import_no_web_framework(graph):
    offenders = {}
    for module in graph:
        if module.startswith(FRAMEWORK_FREE):
            for reached in _closure(graph, module):
                path = _path(reached)
                used = external_imports(path) & WEB_FRAMEWORKS
                if used:
                    offenders[module] = f"{reached} imports {sorted(used)}"
    assert not offenders


def test_only_the_router_imports_route_modules(graph):
    importers = {
        source
        for source, targets in graph.items()
        if any(target.startswith("service.api.routes.") for target in targets)
    }
    allowed = {"service.api.router"}
    assert {m for m in importers if not m.startswith("service.api.routes")} <= allowed


def test_the_service_root_holds_at_most_nine_modules():
    modules = sorted(path.name for path in (ROOT / "service").glob("*.py"))
    assert len(modules) <= 9, modules


@pytest.mark.parametrize("folder", ["service", "training", "bench", "tests", "scripts"])
def test_no_source_file_is_over_400_lines(folder):
    patterns = ("*.py", "*.js")
    long = {
        str(path.relative_to(ROOT)): lines
        for pattern in patterns
        for path in (ROOT / folder).rglob(pattern)
        if not any(part.startswith(".") for part in path.relative_to(ROOT).parts)
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long


def _card_reads(path: Path) -> list[str]:
    """`card[...]` and `card.get(...)` on anything named like a card."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        target = None
        if isinstance(node, ast.Subscript):
            target = node.value
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
        ):
            target = node.func.value
        name = target.id if isinstance(target, ast.Name) else getattr(target, "attr", "")
        if isinstance(name, str) and name.endswith("card"):
            found.append(f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}")
    return found


def test_no_module_reads_a_card_by_key():
    reads = [
        read
        for path in source_files()
        if module_name(path) not in CARD_MODULES
        for read in _card_reads(path)
    ]
    assert not reads


def test_the_architecture_page_draws_the_layers_as_the_code_has_them():
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    drawn = mermaid(import_graph(("service",)))
    assert drawn in page, "run `python -m tests.architecture.imports` and paste its output"


def _path(module: str) -> Path:
    base = ROOT.joinpath(*module.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
