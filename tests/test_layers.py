"""The layers of docs/architecture.md, read off the source: every import in ftlab/, at module level or inside a
function (a lazy import is still a dependency), must point down, and no module may depend on itself
through others."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PKG = ROOT / "ftlab"


def module_name(path: Path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


MODULES = {module_name(p): p for p in PKG.rglob("*.py") if "modules" not in p.relative_to(PKG).parts}


def owner(name: str) -> str:
    """The ftlab module that `import name` loads last (a.b.c -> a.b if c is not a module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def imports(name: str) -> set[str]:
    """Every name `name` imports, anywhere in its file, absolute (relative imports resolved)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            subs = {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES}
            found |= subs
            if len(subs) < len(node.names):  # `from pkg import name` uses the package's own namespace
                found.add(base)
    return found


def ftlab_deps(name: str) -> set[str]:
    return {owner(i) for i in imports(name) if i.split(".")[0] == "ftlab"} - {name, ""}


def cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    graph = {n: ftlab_deps(n) for n in MODULES}
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_checker_sees_lazy_and_relative_imports():
    assert "ftlab.methods" in ftlab_deps("ftlab.config")  # module level
    assert "ftlab.data" in ftlab_deps("ftlab.config")  # inside a validator
    assert "ftlab.data.common" in ftlab_deps("ftlab.data.files")  # relative


def test_no_import_cycle_in_ftlab():
    assert cycles() == []


def modules_under(prefix: str) -> list[str]:
    return sorted(n for n in MODULES if n == prefix or n.startswith(prefix + "."))


# (modules, what they must not import): data flows down, docs/architecture.md's layers
RULES = [
    ("ftlab.ui", ("torch", "transformers", "peft", "duckdb", "ftlab.train", "ftlab.queue", "ftlab.store")),
    ("ftlab.ui.logic", ("gradio",)),
    ("ftlab.charts", ("gradio", "torch", "ftlab.service", "ftlab.ui")),
    ("ftlab.service", ("gradio", "ftlab.ui")),
    ("ftlab.queue", ("gradio", "duckdb", "ftlab.ui", "ftlab.service")),
    ("ftlab.train", ("gradio", "duckdb", "ftlab.store", "ftlab.queue", "ftlab.service", "ftlab.ui")),
    ("ftlab.methods", ("ftlab.train", "ftlab.store", "ftlab.queue", "ftlab.service", "ftlab.ui", "ftlab.config")),
    ("ftlab.data", ("ftlab.train", "ftlab.store", "ftlab.queue", "ftlab.service", "ftlab.ui", "ftlab.config")),
    ("ftlab.models", ("ftlab.train", "ftlab.store", "ftlab.queue", "ftlab.service", "ftlab.ui", "ftlab.config")),
    ("ftlab.metrics", ("ftlab.train", "ftlab.store", "ftlab.queue", "ftlab.service", "ftlab.ui")),
    ("ftlab.options", ("ftlab.config", "ftlab.methods", "torch")),
    ("ftlab.tasks", ("ftlab.config", "ftlab.train", "ftlab.store", "ftlab.queue", "ftlab.service", "ftlab.ui",
                     "ftlab.methods", "ftlab.models")),
    ("ftlab.tracking", ("gradio", "duckdb", "ftlab.config", "ftlab.store", "ftlab.queue", "ftlab.service", "ftlab.ui",
                        "ftlab.train")),
]


@pytest.mark.parametrize("prefix,banned", RULES, ids=[r[0] for r in RULES])
def test_imports_point_down(prefix, banned):
    wrong = [f"{n} imports {i}" for n in modules_under(prefix) for i in sorted(imports(n))
             if any(i == b or i.startswith(b + ".") for b in banned)]
    assert modules_under(prefix) and wrong == []


def test_only_the_store_opens_duckdb():
    users = sorted(n for n in MODULES if any(i.split(".")[0] == "duckdb" for i in imports(n)))
    assert users == ["ftlab.store"]


def task_name_comparisons() -> list[str]:
    """`x == "ner"`, `task in ("classification", ...)` and the like anywhere in ftlab/ outside
    ftlab/tasks/: what differs between tasks belongs to the task (ftlab.tasks)."""
    from ftlab.tasks import names

    known = set(names())
    found = []
    for name, path in MODULES.items():
        if name == "ftlab.tasks" or name.startswith("ftlab.tasks."):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Compare):
                continue
            sides = [node.left, *node.comparators]
            values = [s.value for s in sides if isinstance(s, ast.Constant)]
            values += [e.value for s in sides if isinstance(s, (ast.Tuple, ast.List, ast.Set))
                       for e in s.elts if isinstance(e, ast.Constant)]
            if known & {v for v in values if isinstance(v, str)}:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_module_outside_the_task_registry_tests_a_task_name():
    assert task_name_comparisons() == []


def test_the_checker_sees_a_task_name_comparison(tmp_path, monkeypatch):
    probe = tmp_path / "probe.py"
    probe.write_text('def f(config):\n    return config.task == "ner" or config.task in ("classification",)\n')
    monkeypatch.setitem(MODULES, "ftlab.probe", probe)
    monkeypatch.setattr(__import__("test_layers"), "ROOT", tmp_path)
    assert len(task_name_comparisons()) == 2
