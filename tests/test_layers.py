"""The package keeps its layers: who may import whom, no import cycle, a pure domain core.

Every import counts, including those inside functions and under ``TYPE_CHECKING``: a cycle that
only shows at run time is still a cycle. The rule (README, « Organisation du code »):

- ``errors``, ``clock``, ``frenchdates``, ``durable``, ``phones`` are the kernel: they import
  nothing of the package but each other; ``settings``, ``audit``, ``mail``, ``ratelimit``,
  ``typography`` are shared services over the kernel;
- ``notice`` imports the kernel only, and ``typography`` (pure text: the site's hook typesets the
  pages as the service does);
- the store contract (``store`` without its engines) imports the kernel only; an engine
  (``store.tinydb``) imports only the store contract and the kernel; ``store.factory`` alone picks an engine;
- the features (``accounts``, ``enrolment``, ``uploads``, ``files``, ``outbox``) import the kernel,
  the shared services,
  ``notice``, the store contract and each other — never an engine, never ``web``;
- nothing imports ``web`` but ``web`` itself, ``cli`` and ``server``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "formservice"

KERNEL = {
    "formservice.states",
    "formservice.errors",
    "formservice.clock",
    "formservice.frenchdates",
    "formservice.durable",
    "formservice.phones",
}
SHARED = {
    "formservice.settings",
    "formservice.audit",
    "formservice.mail",
    "formservice.ratelimit",
    "formservice.typography",
}
# Shared modules the notice may use: pure text helpers that import nothing of the package (the
# site's hook typesets the pages as the service does, and the editor's messages count in French).
NOTICE_MAY_USE = {"formservice.typography"}
FEATURES = (
    "formservice.accounts",
    "formservice.enrolment",
    "formservice.uploads",
    "formservice.files",
    "formservice.outbox",
    "formservice.staff",
    "formservice.review",
    "formservice.reporting",
)
ENTRY_POINTS = {"formservice.cli", "formservice.server", "formservice.supervisor", "formservice"}
ENGINES = ("formservice.store.tinydb", "formservice.store.postgres")
PURE = (
    "formservice.errors",
    "formservice.clock",
    "formservice.frenchdates",
    "formservice.ratelimit",
    "formservice.typography",
    "formservice.accounts.rules",
    "formservice.accounts.tokens",
    "formservice.enrolment.rules",
    "formservice.enrolment.form",
    "formservice.enrolment.pieces",
    "formservice.enrolment.quotas",
    "formservice.enrolment.wording",
    "formservice.enrolment.deadlines",
    "formservice.uploads",
    "formservice.notice.model",
)
IMPURE_LIBRARIES = (
    "starlette",
    "tinydb",
    "psycopg",
    "jinja2",
    "uvicorn",
    "httpx",
    "formservice.store",
    "formservice.web",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    if MODULES[importer].name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_of(name: str) -> Iterator[str]:
    """Every module (of any package) imported by ``name``, wherever the import statement is."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(name, node)
            yield target
            for alias in node.names:  # ``from formservice.store import contract``: the submodule
                if f"{target}.{alias.name}" in MODULES:
                    yield f"{target}.{alias.name}"


def internal_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name in MODULES:
        targets = set()
        for target in imports_of(name):
            if target in MODULES and target != name:
                targets.add(target)
        graph[name] = targets
    return graph


def within(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def allowed(importer: str, target: str) -> bool:
    if within(importer, *ENTRY_POINTS - {"formservice"}) or importer == "formservice":
        return True
    if within(target, "formservice.web"):
        return within(importer, "formservice.web")
    if importer in KERNEL:
        return target in KERNEL
    if importer in SHARED:
        return target in KERNEL | SHARED
    if within(importer, "formservice.notice"):
        return target in KERNEL | NOTICE_MAY_USE or within(target, "formservice.notice")
    if within(importer, *ENGINES):
        return target in KERNEL or (
            within(target, "formservice.store") and not within(target, "formservice.store.factory")
        )
    if importer == "formservice.store.factory":
        return within(target, "formservice.store") or target in KERNEL
    if within(importer, "formservice.store"):
        return target in KERNEL or (within(target, "formservice.store") and not within(target, *ENGINES))
    if within(importer, *FEATURES):
        return (
            target in KERNEL | SHARED
            or within(target, "formservice.notice", *FEATURES)
            or (within(target, "formservice.store") and not within(target, *ENGINES))
        ) and target != "formservice.store.factory"
    if within(importer, "formservice.web"):
        return not within(target, *ENGINES, *ENTRY_POINTS - {"formservice"})
    raise AssertionError(f"{importer} belongs to no layer: add it to the rule in {__file__}")


def test_every_import_respects_the_layers():
    """No module imports a layer above its own (web, an engine, an entry point)."""
    graph = internal_graph()
    bad = sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets if not allowed(a, b))
    assert not bad, "imports against the layer rule:\n" + "\n".join(bad)


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: the cycles of the import graph (components of 2+ modules)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycle():
    """No two modules import each other, even through others or from inside a function.

    A package's ``__init__`` that re-exports its modules is not a cycle with them: the edges from
    a module to its own package's ``__init__`` are left out (Python runs the ``__init__`` first)."""
    graph = internal_graph()
    for name, targets in graph.items():
        targets.difference_update(
            {t for t in targets if MODULES[t].name == "__init__.py" and within(name, t)}
        )
    assert strongly_connected(graph) == []


def test_cycle_finder_finds_a_cycle():
    """The cycle check itself works: a three-module loop is reported."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert strongly_connected(graph) == [["a", "b", "c"]]


def test_layer_rule_refuses_what_it_should():
    """The rule is not vacuous: a feature importing web, an engine importing a feature, are refused."""
    assert not allowed("formservice.enrolment.service", "formservice.web.rendering")
    assert not allowed("formservice.store.tinydb.engine", "formservice.accounts.rules")
    assert not allowed("formservice.store.postgres.engine", "formservice.ratelimit")
    assert not allowed("formservice.web.app", "formservice.store.postgres.engine")
    assert not allowed("formservice.errors", "formservice.web.rendering")
    assert allowed("formservice.web.app", "formservice.enrolment.service")


@pytest.mark.parametrize("module", PURE)
def test_domain_core_is_pure(module):
    """The rules import no web, template or storage library (house rule 2)."""
    names = [m for m in MODULES if within(m, module)]
    assert names, f"{module} does not exist any more: update PURE"
    bad = {f"{m} -> {t}" for m in names for t in imports_of(m) if within(t, *IMPURE_LIBRARIES)}
    assert not bad, f"impure imports: {sorted(bad)}"
