"""The package's layers point down only. Every ``import`` of a skipclip module, at module top or
inside a function, is an edge; an edge from a lower layer to a higher one (or between two
packages of one layer) fails this test and names the file and line.

Imports sit at module top, except in ``commands/``, ``cli.py`` and the root ``__init__`` (which
defer heavy imports so that ``skipclip --help`` stays fast) and the few named in
:data:`DEFERRED_IMPORTS`, each with its reason."""

from __future__ import annotations

import ast
from pathlib import Path

import skipclip

ROOT = Path(skipclip.__file__).parent

# top to bottom; packages on one row may not import each other
LAYERS = [
    ["__init__"],  # the public names (skipclip.load_encoder, ...), loaded lazily from api
    ["api"],  # the Python API: sits on top of everything below it
    ["__main__"],
    ["cli"],
    ["commands"],
    ["recipes", "bench"],
    ["eval", "viz"],
    ["engine"],
    ["weights"],
    ["method"],
    ["models"],
    ["data"],
    ["batch"],  # the typed batch between data/ and method/, below both (torch only)
    ["config"],
    ["utils"],
    ["_version", "errors"],
]
RANK = {name: (i, row) for i, row in enumerate(LAYERS) for name in row}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _is_module(root: Path, dotted: str) -> bool:
    parts = dotted.split(".")
    if parts[0] != root.name:
        return False
    path = root.joinpath(*parts[1:])
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def import_edges(root: Path = ROOT):
    """(source module, target module, file, line) for every skipclip import under ``root``."""
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).with_suffix("")
        parts = list(rel.parts)
        is_pkg = parts[-1] == "__init__"
        module = ".".join(parts[:-1] if is_pkg else parts)
        package = parts[:-1]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[: len(package) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                # `from pkg import mod` of a submodule is an edge to that module, else to pkg
                targets = (
                    sorted(
                        {f"{target}.{a.name}" if _is_module(root, f"{target}.{a.name}") else target for a in node.names}
                    )
                    if node.module
                    else [f"{target}.{a.name}" for a in node.names]
                )
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for t in targets:
                if t == "skipclip" or t.startswith("skipclip."):
                    yield module, t, path, node.lineno


def violations(edges) -> list[str]:
    bad = []
    for src, dst, path, line in edges:
        a, b = _package(src), _package(dst)
        if a == b:
            continue
        if a not in RANK or b not in RANK:
            bad.append(f"{path}:{line}: {src} -> {dst}: package not in the layer list")
            continue
        (ra, _), (rb, _) = RANK[a], RANK[b]
        if ra >= rb:
            bad.append(f"{path}:{line}: {src} -> {dst} ({a} may not import {b})")
    return bad


def test_imports_point_down_only():
    bad = violations(import_edges())
    assert not bad, "upward or sideways imports:\n" + "\n".join(bad)


def test_every_package_has_a_layer():
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    packages |= {p.stem for p in ROOT.glob("*.py") if p.stem != "__init__"}
    assert packages <= set(RANK), f"packages without a layer: {sorted(packages - set(RANK))}"


def test_an_upward_import_is_caught():
    edges = [
        ("skipclip.data.open", "skipclip.engine.runs", Path("x.py"), 3),
        ("skipclip.eval.knn", "skipclip.viz.bars", Path("y.py"), 4),
        ("skipclip.engine.runs", "skipclip.data.failures", Path("z.py"), 5),
    ]
    bad = violations(edges)
    assert len(bad) == 2 and "data may not import engine" in bad[0] and "eval may not import viz" in bad[1]


# where an import may sit inside a function, relative to the package: the command line's modules
# defer torch, PyAV and Lightning so that `skipclip --help` starts in a fraction of a second
DEFERRING = ("commands/", "cli.py", "__init__.py")
# (file, imported module) -> why it is imported inside a function; an optional dependency (one of
# pyproject.toml's extras) imported by skipclip itself would be listed here too
DEFERRED_IMPORTS: dict[tuple[str, str], str] = {}


def function_imports(root: Path = ROOT):
    """(file relative to ``root``, line, imported module) for every import inside a function body."""
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        seen = set()
        for fn in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in seen:
                    seen.add(id(node))
                    if isinstance(node, ast.Import):
                        names = [a.name for a in node.names]
                    else:
                        names = ["." * node.level + (node.module or "")]
                    for name in names:
                        yield rel, node.lineno, name


def misplaced(imports, allowed=DEFERRED_IMPORTS) -> list[str]:
    return [
        f"{ROOT.name}/{rel}:{line}: import {name}"
        for rel, line, name in imports
        if not rel.startswith(DEFERRING) and (rel, name) not in allowed
    ]


def test_imports_sit_at_module_top():
    bad = misplaced(function_imports())
    assert not bad, (
        "imports inside functions (move them to the module's top, or name them with a reason in "
        "DEFERRED_IMPORTS):\n" + "\n".join(bad)
    )


def test_every_deferred_import_is_still_there():
    found = {(rel, name) for rel, _, name in function_imports()}
    stale = sorted(set(DEFERRED_IMPORTS) - found)
    assert not stale, f"DEFERRED_IMPORTS names imports that are gone: {stale}"


def test_a_function_level_import_is_caught(tmp_path):
    for rel in ("engine/runs.py", "data/__init__.py", "commands/demo.py", "cli.py", "__init__.py", "weights/read.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(
            "import os\n\n\ndef f():\n    import torch\n\n    def g():\n        from skipclip.weights import export\n"
        )
    bad = misplaced(function_imports(tmp_path), {("weights/read.py", "torch"): "a test"})
    assert bad == [
        f"{ROOT.name}/data/__init__.py:5: import torch",
        f"{ROOT.name}/data/__init__.py:8: import skipclip.weights",
        f"{ROOT.name}/engine/runs.py:5: import torch",
        f"{ROOT.name}/engine/runs.py:8: import skipclip.weights",
        f"{ROOT.name}/weights/read.py:8: import skipclip.weights",
    ]


def module_cycles(edges) -> list[list[str]]:
    """The import cycles between skipclip's modules (``from pkg import name`` of a submodule is an
    edge to that submodule), each as the modules round it."""
    modules = {
        ".".join(p.relative_to(ROOT.parent).with_suffix("").parts).removesuffix(".__init__") for p in ROOT.rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for src, dst, _, _ in edges:
        while dst not in modules and "." in dst:  # `from skipclip.data import PretextBatch`: the package
            dst = dst.rsplit(".", 1)[0]
        if dst != src:
            graph.setdefault(src, set()).add(dst)
    cycles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return cycles


def test_no_module_imports_itself_round_a_circle():
    """Within a package too: a circle hidden by an import inside a function is still a circle."""
    cycles = module_cycles(import_edges())
    assert not cycles, "import circles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_a_circle_is_caught():
    edges = [
        ("skipclip.weights.read", "skipclip.weights.export", Path("a.py"), 1),
        ("skipclip.weights.export", "skipclip.weights.read", Path("b.py"), 2),
    ]
    assert module_cycles(edges) == [["skipclip.weights.export", "skipclip.weights.read", "skipclip.weights.export"]]


def test_data_is_entered_by_its_door_only():
    """Other packages import ``skipclip.data`` (its ``__init__``), never its rooms directly."""
    bad = [
        f"{path}:{line}: {src} -> {dst}"
        for src, dst, path, line in import_edges()
        if _package(src) != "data"
        and dst.startswith("skipclip.data.")
        and dst.split(".")[2] in {"sources", "video", "store", "catalog", "sampling", "open", "failures"}
    ]
    assert not bad, "import skipclip.data, not its sub-packages:\n" + "\n".join(bad)


# engine modules that may import skipclip.data, each with its reason; the engine reads a batch's
# failure records from skipclip.batch (below data/), not from data/
ENGINE_READS_DATA = {
    "skipclip.engine.skipclip_module": "decodes a JPEG store's deferred frames on the GPU (data.gpu_decode)",
}


def test_engine_does_not_import_data():
    bad = [
        f"{path}:{line}: {src} -> {dst}"
        for src, dst, path, line in import_edges()
        if _package(src) == "engine" and _package(dst) == "data" and src not in ENGINE_READS_DATA
    ]
    assert not bad, "the engine imports the data package (read a batch through skipclip.batch):\n" + "\n".join(bad)
    used = {src for src, dst, _, _ in import_edges() if _package(src) == "engine" and _package(dst) == "data"}
    assert used == set(ENGINE_READS_DATA), (
        f"ENGINE_READS_DATA names modules that no longer import data: {sorted(set(ENGINE_READS_DATA) - used)}"
    )


def test_layout_choices_are_declared_once():
    """The config's layout names (used by validation and ``--layout``) are the registry's."""
    from skipclip.config.sections import LAYOUTS
    from skipclip.data.catalog.layouts import REGISTRY

    assert tuple(REGISTRY) == LAYOUTS
    assert all(REGISTRY[name].name == name for name in LAYOUTS)
