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


def _modules(package: str) -> dict[str, set[str]]:
    """Each module of the package (relative path) → the modules it imports, by full name."""
    out: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
        out[str(path.relative_to(ROOT))] = names
    return out


def _imports(package: str) -> dict[str, set[str]]:
    """Each module of the package (relative path) → the top-level packages it imports."""
    return {module: {n.split(".")[0] for n in names} for module, names in _modules(package).items()}


@pytest.mark.parametrize(("package", "forbidden"), [
    # click too: sources declare their options as data, the CLI alone turns them into click's
    ("collectors", {"dashboard", "sample_topology", "click"}),
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


# The benchmarks drive the Kafka and OTLP collectors themselves; the simulator only borrows
# the -X parser for its own producers; redrive is an action on the cluster, not a source (the
# command, its button and the connection options they share).
_SOURCE_INTERNALS_ALLOWED = {"dashboard/cli/bench.py", "dashboard/cli/simulate.py", "dashboard/cli/redrive.py",
                             "dashboard/ui/redrive.py", "dashboard/cli/kafka_connection.py"}


def test_the_dashboard_reaches_the_kafka_and_otlp_sources_only_through_the_registry() -> None:
    """`collect`, `up` and `import` assemble whatever collectors.sources lists
    (docs/architecture.md#adding-a-source); none of them knows a source's package."""
    offenders = {module: sorted(n for n in names if n.startswith(("collectors.kafka", "collectors.otlp")))
                 for module, names in _modules("dashboard").items() if module not in _SOURCE_INTERNALS_ALLOWED}
    assert {m: n for m, n in offenders.items() if n} == {}
