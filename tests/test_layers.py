"""The packages depend one way: the demo and the dashboard build on the core, never the reverse.

collectors/ (the write side and the shared model, the declared topology among it) must run
without the dashboard or the sample shop installed beside it; the sample shop is a user of
the core like any other shop.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _imports(package: str) -> dict[str, set[str]]:
    """Each module of the package (relative path) → the top-level packages it imports."""
    out: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
        out[str(path.relative_to(ROOT))] = names
    return out


@pytest.mark.parametrize(("package", "forbidden"), [
    ("collectors", {"dashboard", "sample_topology"}),
    ("sample_topology", {"dashboard"}),
])
def test_a_package_imports_only_what_sits_below_it(package: str, forbidden: set[str]) -> None:
    offenders = {module: sorted(names & forbidden) for module, names in _imports(package).items() if names & forbidden}
    assert offenders == {}


def test_the_topology_model_is_in_the_core() -> None:
    from collectors.topology import load_topology
    from sample_topology import TOPOLOGY_FILE

    assert not (ROOT / "sample_topology" / "topology.py").exists()
    assert load_topology(TOPOLOGY_FILE).max_sync_depth == 3
