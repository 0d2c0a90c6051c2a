"""The import graph of ``src/frisk`` runs downward and has no circles (docs/ARCHITECTURE.md).

Every ``import`` of a Frisk module counts, wherever it is written (inside a function, under
``TYPE_CHECKING``): a lazy import is still a dependency. A package on a floor imports only from
floors below it, or from a sibling on its own floor; no module imports, directly or through
others, a module that imports it back.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

# Top floor first; siblings share a floor. Modules directly under frisk/ (schema, config,
# errors, client, currencies) are the ground floor.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("cli",),
    ("service", "dashboard", "streams"),
    ("engine", "monitoring"),
    ("store",),
    ("policy",),
    ("models",),
    ("features",),
    ("data",),
)
FLOOR_OF: Mapping[str, int] = {
    package: len(FLOORS) - i for i, floor in enumerate(FLOORS) for package in floor
}

# The dashboard talks to the service over HTTP only (frisk.client), never to the core; it may
# read files as the rest of Frisk does (frisk.data) and use the ground floor.
DASHBOARD_FLOOR_LIMIT = FLOOR_OF["data"]


def modules(root: Path = SRC) -> dict[str, Path]:
    found = {}
    for path in sorted((root / "frisk").rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: Mapping[str, Path]) -> Iterator[str]:
    """The Frisk modules ``name`` imports (``from package import module`` as the module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in known:  # frisk.x.attribute -> frisk.x
                target = target.rpartition(".")[0]
            if target.startswith("frisk") and target != name:
                yield target


def graph(root: Path = SRC) -> dict[str, set[str]]:
    known = modules(root)
    return {name: set(imports(name, path, known)) for name, path in known.items()}


def floor(module: str) -> int:
    parts = module.split(".")
    return FLOOR_OF.get(parts[1], 0) if len(parts) > 1 else 0


def upward(edges: Mapping[str, set[str]]) -> list[str]:
    wrong = []
    for source, targets in sorted(edges.items()):
        for target in sorted(targets):
            if floor(target) > floor(source):
                wrong.append(f"{source} -> {target}")
            elif (
                source.startswith("frisk.dashboard.")
                and not target.startswith("frisk.dashboard")
                and floor(target) > DASHBOARD_FLOOR_LIMIT
            ):
                wrong.append(f"{source} -> {target} (the dashboard uses frisk.client)")
    return wrong


def circles(edges: Mapping[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(frozenset(component))
    return found


def test_no_import_runs_up_a_floor() -> None:
    assert upward(graph()) == []


def test_no_import_circles() -> None:
    assert [sorted(c) for c in circles(graph())] == []


def _tree(tmp: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        path = tmp / "frisk" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp


@pytest.mark.parametrize(
    ("files", "up", "circle"),
    [
        # store imports engine: an arrow up a floor
        (
            {"store/a.py": "from frisk.engine import b\n", "engine/b.py": ""},
            ["frisk.store.a -> frisk.engine.b"],
            [],
        ),
        # a lazy import inside a function counts, and two siblings importing each other circle
        (
            {
                "engine/a.py": "def f():\n    from frisk.engine import b\n",
                "engine/b.py": "from . import a\n",
            },
            [],
            [["frisk.engine.a", "frisk.engine.b"]],
        ),
        # the dashboard reaching past the client into the core
        (
            {"dashboard/p.py": "import frisk.store.x\n", "store/x.py": ""},
            ["frisk.dashboard.p -> frisk.store.x (the dashboard uses frisk.client)"],
            [],
        ),
    ],
)
def test_the_checks_catch_what_they_are_for(
    tmp_path: Path, files: dict[str, str], up: list[str], circle: list[list[str]]
) -> None:
    edges = graph(_tree(tmp_path, {"__init__.py": "", **files}))
    assert upward(edges) == up
    assert [sorted(c) for c in circles(edges)] == circle
