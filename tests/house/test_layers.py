"""The package's layers point down only. Every ``import`` of a skipclip module, at module top or
inside a function, is an edge; an edge from a lower layer to a higher one (or between two
packages of one layer) fails this test and names the file and line."""

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
    ["config"],
    ["utils"],
    ["_version", "errors"],
]
RANK = {name: (i, row) for i, row in enumerate(LAYERS) for name in row}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


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
                targets = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
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
    edges = [("skipclip.data.open", "skipclip.engine.runs", Path("x.py"), 3),
             ("skipclip.eval.knn", "skipclip.viz.bars", Path("y.py"), 4),
             ("skipclip.engine.runs", "skipclip.data.failures", Path("z.py"), 5)]
    bad = violations(edges)
    assert len(bad) == 2 and "data may not import engine" in bad[0] and "eval may not import viz" in bad[1]


def test_data_is_entered_by_its_door_only():
    """Other packages import ``skipclip.data`` (its ``__init__``), never its rooms directly."""
    bad = [f"{path}:{line}: {src} -> {dst}" for src, dst, path, line in import_edges()
           if _package(src) != "data" and dst.startswith("skipclip.data.")
           and dst.split(".")[2] in {"sources", "video", "store", "catalog", "sampling", "open", "failures"}]
    assert not bad, "import skipclip.data, not its sub-packages:\n" + "\n".join(bad)


def test_layout_choices_are_declared_once():
    """The config's layout names (used by validation and ``--layout``) are the registry's."""
    from skipclip.config.sections import LAYOUTS
    from skipclip.data.catalog.layouts import REGISTRY

    assert tuple(REGISTRY) == LAYOUTS
    assert all(REGISTRY[name].name == name for name in LAYOUTS)
