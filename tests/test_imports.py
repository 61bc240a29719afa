"""One direction for every import: the project's modules form no import circle, counting imports made inside
functions too (a function-level import hides a circle from Python's start-up, not from a reader)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("engine", "ui")


def _module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(name: str) -> str | None:
    """A project module for an imported dotted name (`engine.fit`, or `engine` for the package), else None."""
    parts = name.split(".")
    if parts[0] not in PACKAGES:
        return None
    for k in range(len(parts), 0, -1):
        candidate = ROOT.joinpath(*parts[:k])
        if candidate.with_suffix(".py").is_file() or (candidate / "__init__.py").is_file():
            return ".".join(parts[:k])
    return None


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports, anywhere in its file."""
    graph: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).glob("*.py")):
            here, edges = _module_of(path), set()
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
                else:
                    continue
                edges |= {m for m in map(_resolve, names) if m and m != here}
            graph[here] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_cycles_finds_a_circle_and_only_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_project_imports_in_one_direction() -> None:
    graph = import_graph()
    assert {"engine.cli", "engine.train", "ui.loaders", "ui.talk"} <= set(graph)
    assert "engine.train" in graph["engine.cli"]  # function-level imports are seen
    assert cycles(graph) == []
