"""The tree shows the architecture, and stays that way.

Contract (the layout issue): no import cycle anywhere in ``lgl_sync``; the Shopify simulator
imports nothing of LGL Sync and is not in the production wheel; no function of the product is
over 50 lines; ledger statuses are compared only inside the ledger module; each flow has the same
three roles (rules, reads, writer) and its rules do no I/O.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ROOT / "lgl_sync"
SIMULATOR = ROOT / "sandbox" / "shopify_sandbox"
FLOWS = ("orders", "fulfillments", "inventory")


def _module_name(path: Path, package_root: Path) -> str:
    parts = path.relative_to(package_root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, package_root: Path) -> set[str]:
    """Every module ``path`` imports, at module level or inside a function."""
    module = _module_name(path, package_root)
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: -node.level or None]
                if path.name == "__init__.py":
                    anchor = module.split(".")[: len(module.split(".")) - node.level + 1]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def _graph(package_root: Path) -> dict[str, set[str]]:
    modules = {_module_name(p, package_root): p for p in package_root.rglob("*.py")}
    return {
        name: {m for m in _imports(path, package_root) if m in modules and m != name}
        for name, path in modules.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


@pytest.mark.parametrize("package", [PRODUCT, SIMULATOR], ids=["lgl_sync", "shopify_sandbox"])
def test_no_import_cycle(package):
    graph = _graph(package)
    assert len(graph) > 10  # the walk found the package
    assert _cycles(graph) == []


def test_the_simulator_imports_nothing_of_lgl_sync():
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in _imports(path, SIMULATOR) if "lgl_sync" in m)
        for path in SIMULATOR.rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_product_imports_the_simulator_only_from_its_developer_kit():
    users = {
        str(path.relative_to(ROOT))
        for path in PRODUCT.rglob("*.py")
        if any(m.startswith("shopify_sandbox") for m in _imports(path, PRODUCT))
    }
    assert users and all(
        u.startswith("lgl_sync/devkit/") or u == "lgl_sync/cli/developers.py" for u in users
    ), users


def test_no_function_of_the_product_is_over_50_lines():
    long = []
    for path in PRODUCT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > 50:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} {length}")
    assert long == []


def test_ledger_statuses_are_compared_only_in_the_ledger():
    offenders = [
        str(path.relative_to(ROOT))
        for path in PRODUCT.rglob("*.py")
        if '"status"]' in path.read_text() and path.name != "ledger.py"
    ]
    assert offenders == []


@pytest.mark.parametrize("flow", FLOWS)
def test_each_flow_has_rules_reads_and_a_writer_and_its_rules_do_no_io(flow):
    folder = PRODUCT / "sync" / flow
    assert {p.name for p in folder.glob("*.py")} == {
        "__init__.py",
        "rules.py",
        "reads.py",
        "writer.py",
    }
    rules = _imports(folder / "rules.py", PRODUCT)
    io = ("lgl_sync.shopify.client", "lgl_sync.shopify.bulk", "lgl_sync.control_plane")
    io += ("sqlalchemy", "requests", "dagster")
    assert [m for m in rules if m.startswith(io)] == []


def test_the_production_wheel_holds_no_simulator(tmp_path):
    """`pip install .` (a container image) gets LGL Sync without the simulator; developers
    install it with `pip install -e ./sandbox` (the Makefile does)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("lgl_sync-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("lgl_sync/sync/orders/") for n in names)
    assert any(n.startswith("lgl_sync/shopify/queries/") for n in names)
    # What a wheel install needs beside the code: the instance template, the scope table.
    assert {"lgl_sync/ops/dagster.yaml", "lgl_sync/shopify/access_scopes.json"} <= set(names)
    assert not [n for n in names if "shopify_sandbox" in n or n.endswith("schema.graphql")]
