"""The project's import graph, read from the source with `ast`, and its layers drawn.

`python -m tests.architecture.imports` prints the Mermaid picture of
docs/architecture.md: one box per layer of `service`, one arrow per layer it imports.
The architecture tests check the same graph against the rules that doc states.
"""

import ast
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("service", "training")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files(packages: Iterable[str] = PACKAGES) -> Iterator[Path]:
    for package in packages:
        yield from sorted((ROOT / package).rglob("*.py"))


def _imported(tree: ast.AST, known: set[str]) -> set[str]:
    """Every project module named by an import anywhere in the file (functions too)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from package import module` names the module; anything else, the package.
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [name if name in known else node.module for name in names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def import_graph(packages: Iterable[str] = PACKAGES) -> dict[str, set[str]]:
    """Module -> the project modules it imports (packages' `__init__` excluded as targets
    unless they hold code)."""
    files = {module_name(path): path for path in source_files(packages)}
    known = set(files)
    graph = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        graph[name] = _imported(tree, known) - {name}
    return graph


def external_imports(path: Path) -> set[str]:
    """Top-level names of what a file imports from outside the project."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found - set(PACKAGES)


# The layers of `service`, lowest first: a module imports only from its own layer or
# lower ones. The longest matching prefix decides.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("card, logs", ("service.card", "service.logs")),
    ("runtime errors", ("service.runtime.errors", "service.preprocessing.errors")),
    ("error table", ("service.errors",)),
    ("preprocessing", ("service.preprocessing",)),
    ("runtime", ("service.runtime",)),
    ("ports, config, metrics", ("service.ports", "service.config", "service.metrics")),
    ("tasks", ("service.tasks",)),
    ("protocols", ("service.protocols",)),
    ("process services", ("service.server",)),
    ("http, grpc", ("service.api", "service.rpc")),
    ("entry point", ("service.main", "service.cli", "service.server.workers", "service")),
)  # fmt: skip


def layer_of(module: str) -> int:
    """The layer of the longest prefix that names the module."""
    matches = [
        (len(prefix), rank)
        for rank, (_, prefixes) in enumerate(LAYERS)
        for prefix in prefixes
        if module == prefix or module.startswith(prefix + ".")
    ]
    if not matches:
        raise KeyError(f"{module} is in no layer")
    return max(matches)[1]


def layer_edges(graph: dict[str, set[str]]) -> set[tuple[int, int]]:
    return {
        (layer_of(source), layer_of(target))
        for source, targets in graph.items()
        if source.startswith("service")
        for target in targets
        if target.startswith("service") and layer_of(source) != layer_of(target)
    }


def mermaid(graph: dict[str, set[str]]) -> str:
    """The layers as a Mermaid flowchart, highest on top."""
    lines = ["flowchart TD"]
    lines += [f'    L{rank}["{name}"]' for rank, (name, _) in reversed(list(enumerate(LAYERS)))]
    lines += [f"    L{a} --> L{b}" for a, b in sorted(layer_edges(graph), reverse=True)]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(mermaid(import_graph(("service",))) + "\n")
