"""The package's layout (docs/architecture.md): every import in assistant/ runs down the stages or stays in its
own, and no modules import each other in a circle. Function-level imports count too: they load the same
module, only later."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "assistant"
# Lowest first. A module may import its own stage and the stages before it, never one after.
STAGES = [
    ("base", ["assistant.text", "assistant.settings", "assistant.models"]),
    ("index", ["assistant.index"]),
    ("ingest", ["assistant.ingest"]),
    ("search", ["assistant.search"]),
    ("read", ["assistant.read"]),
    ("facade", ["assistant.core"]),
    ("evaluation", ["assistant.evaluation"]),
    ("serve", ["assistant.serve"]),
    ("cli", ["assistant.cli"]),
    ("entry", ["assistant.__init__", "assistant.__main__"]),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts)


def stage_of(module: str) -> int:
    for rank, (_, prefixes) in enumerate(STAGES):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    raise AssertionError(f"{module}: in no stage of tests/test_architecture.py STAGES (add it there and to "
                         "docs/architecture.md)")


def imports(path: Path) -> set[str]:
    """The assistant modules `path` imports, resolved to module names (a package's name means its __init__)."""
    module = module_name(path)
    package = module.split(".")[:-1]  # assistant.read.answer -> assistant.read; assistant.cli.__init__ -> assistant.cli
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            # `from . import ask, docs`: each name a module; `from .models import Passage`: the module itself.
            named = {f"{target}.{a.name}" for a in node.names} & modules
            found |= named or ({target, f"{target}.__init__"} & modules)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names} & modules
    found.discard(module)
    return {m for m in found if not m.endswith(".__init__") or m == "assistant.__init__"}


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_import_runs_down_the_stages():
    upward = [f"{m} ({STAGES[stage_of(m)][0]}) imports {t} ({STAGES[stage_of(t)][0]})"
              for m, targets in graph().items() for t in sorted(targets) if stage_of(t) > stage_of(m)]
    assert not upward, "\n".join(upward)


def test_no_modules_import_each_other_in_a_circle():
    edges = graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    circles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                circles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    assert not circles, "\n".join(circles)


def test_the_walk_sees_imports_in_functions_and_relative_ones():
    edges = graph()
    assert "assistant.index.store" in edges["assistant.core"], "a function-level relative import"
    assert "assistant.models" in edges["assistant.read.answer"], "a module-level import two dots up"
    assert "assistant.core" in edges["assistant.__init__"]
    assert {"assistant.cli.ask", "assistant.cli.docs", "assistant.cli.evals", "assistant.cli.serve"} <= \
        edges["assistant.cli.__init__"], "every module of `from . import a, b`"


def test_the_architecture_page_names_only_modules_that_exist():
    import re

    page = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"assistant/[\w/]+\.py", page))
    assert len(named) > 20, "the page names the modules"
    assert not [m for m in named if not (PACKAGE.parent / m).is_file()]
    every = {p.relative_to(PACKAGE.parent).as_posix() for p in PACKAGE.rglob("*.py")
             if p.name not in ("__init__.py", "__main__.py") and "evaluation" not in p.parts and "cli" not in p.parts}
    assert not every - named, f"modules the page leaves out: {sorted(every - named)}"


def test_every_test_file_names_what_it_tests():
    import re

    for path in sorted((PACKAGE.parent / "tests").glob("test_*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        named = re.findall(r"(?:assistant|evals|tests|docs)/[\w/-]*(?:\.py|\.md)?|README\.md", doc)
        assert named and all((PACKAGE.parent / n).exists() for n in named), f"{path.name}: {named}"


def test_modules_over_400_lines_say_why():
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > 400:
            assert "Over 400 lines" in (ast.get_docstring(ast.parse(text)) or ""), path
