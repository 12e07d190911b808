"""The import graph of `studio/` by package: printed (pytest -s shows it), and checked for circles and for any
import that points up the layers the architecture draws.

Every `import` counts, at module level or inside a function, and so does an import only for type checking: a
lazy or type-only import still says that one part knows about another.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from tests.conftest import REPO

STUDIO = REPO / "studio"

#: Bottom to top: a package may import its own layer's packages and those below, never one above. The edges
#: (CLI, pages, worker) open a `Studio` (the composition root, `context`) and hand its stores down.
LAYERS: list[set[str]] = [
    {"studio", "errors", "names", "prepare", "paths", "markup", "packages", "vault", "model_refs", "settings", "db",
     "skops_files"},
    {"audit", "auth"},
    {"data", "compute"},
    {"training"},
    {"jobs", "studies", "runs"},
    {"tracking", "mlflow_store", "charts", "tracking_memory"},
    {"export", "scoring"},
    {"registry"},
    {"many"},
    {"samples"},
    {"context"},
    {"reproduce", "worker", "cli", "cli_data", "cli_jobs", "cli_models", "__main__", "ui"},
]


def _module(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str], root: Path = REPO) -> set[str]:
    """The studio modules `path` imports, anywhere in it."""
    module = _module(path, root)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from studio.data import ingest` imports the submodule, not the package's __init__
            subs = {f"{base}.{a.name}" for a in node.names} & modules
            found |= subs or {base}
    return {m for m in found if m in modules and m != module}


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "studio"


def package_graph() -> dict[str, set[str]]:
    paths = sorted(STUDIO.rglob("*.py"))
    modules = {_module(p) for p in paths}
    graph: dict[str, set[str]] = defaultdict(set)
    for path in paths:
        source = _top(_module(path))
        graph[source] |= {_top(m) for m in _imports(path, modules)} - {source, "studio"}
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _layer(package: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if package in layer)


def test_every_package_has_a_layer() -> None:
    assert sorted(p for p in package_graph() if not any(p in layer for layer in LAYERS)) == []


def test_the_package_graph_has_no_circle_and_no_upward_import() -> None:
    graph = package_graph()
    for package in sorted(graph, key=lambda p: (_layer(p), p)):
        print(f"{package:16} (layer {_layer(package):2}) -> {', '.join(sorted(graph[package], key=_layer)) or '-'}")
    assert _circles(graph) == []
    upward = [f"{a} -> {b}" for a, targets in sorted(graph.items()) for b in sorted(targets) if _layer(b) > _layer(a)]
    assert upward == []


def test_the_checker_sees_lazy_relative_and_type_only_imports(tmp_path: Path) -> None:
    source = tmp_path / "studio" / "data" / "x.py"
    source.parent.mkdir(parents=True)
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from studio.context import Studio\n"
                      "def f():\n    from ..training import run\n    from studio.data import ingest\n")
    modules = {"studio.context", "studio.data", "studio.data.ingest", "studio.training", "studio.training.run"}
    assert _imports(source, modules, root=tmp_path) == {"studio.context", "studio.training.run", "studio.data.ingest"}
