"""The declared topology: the bundled file loads, a broken one fails in one sentence, loading replaces."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from collectors.errors import ConfigError, InputError
from collectors.store import Store
from collectors.topology import load_into_store, load_topology
from sample_topology import TOPOLOGY_FILE


def test_bundled_topology_declares_the_shop() -> None:
    topo = load_topology(TOPOLOGY_FILE)
    assert topo.max_sync_depth == 3
    assert {"web-checkout", "orders-api", "email-service", "currency-rates"} <= set(topo.services)
    assert topo.services["email-service"].side_effect and not topo.services["orders-api"].side_effect
    assert topo.topics["shop.orders"].event_types == ("OrderCreated",)
    assert topo.topics["shop.orders.DLT"].dead_letter and topo.topics["shop.orders.DLT"].dead_letter_of == "shop.orders"
    assert topo.groups["invoicing"].idempotent is True  # claimed; the data says otherwise
    assert topo.groups["fulfillment"].lag_slo_seconds == 120
    edges = {(e.caller, e.callee, e.method, e.route) for e in topo.sync_edges}
    assert ("web-checkout", "orders-api", "POST", "/orders") in edges
    assert not any(e.callee == "currency-rates" for e in topo.sync_edges)  # the chain that grew is undeclared
    assert "shop.send-welcome-email" not in topo.topics


def _broken(tmp_path: Path, mutate) -> Path:
    doc = yaml.safe_load(TOPOLOGY_FILE.read_text())
    mutate(doc)
    p = tmp_path / "topology.yaml"
    p.write_text(yaml.safe_dump(doc))
    return p


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d["topics"]["shop.orders"].update(producer="nobody"),
     "topic 'shop.orders': producer 'nobody' is not a declared service"),
    (lambda d: d["groups"]["email"].update(topics=["shop.nowhere"]),
     "group 'email': consumes 'shop.nowhere', which is not a declared topic"),
    (lambda d: d["services"]["web-checkout"].update(calls=["orders-api DELETE /orders"]),
     "calls 'DELETE /orders' on orders-api, which does not declare that endpoint"),
    (lambda d: d["services"]["tax-api"].update(endpoints=["rates"]),
     "'rates' must read 'METHOD /route'"),
    (lambda d: d["groups"]["email"].update(idempotent="yes"),
     "group 'email' idempotent: must be true or false, not 'yes'"),
    (lambda d: d["limits"].update(max_sync_depth="three"),
     "limits: max_sync_depth must be a non-negative number"),
    (lambda d: d["topics"]["shop.orders"].update(partitions=0),
     "partitions must be a positive integer, not 0"),
    (lambda d: d.update(extras=1), "unknown top-level field 'extras'"),
])
def test_broken_topology_fails_in_one_line(tmp_path: Path, mutate, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_topology(_broken(tmp_path, mutate))
    text = str(err.value)
    assert message in text and "\n" not in text
    assert text.startswith(str(tmp_path / "topology.yaml"))


def test_unreadable_or_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read topology file"):
        load_topology(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("services: [web-checkout\n")
    with pytest.raises(ConfigError, match=r"is not valid YAML at line \d+"):
        load_topology(bad)


def _counts(store: Store) -> dict[str, int]:
    return {k: v for k, v in store.counts().items() if k.startswith("topology_")}


def test_load_into_store_replaces_the_declaration(store: Store, tmp_path: Path) -> None:
    assert set(_counts(store).values()) == {0}  # no topology file: the tables exist and are empty
    load_into_store(store, TOPOLOGY_FILE)
    first = _counts(store)
    assert first["topology_services"] == len(load_topology(TOPOLOGY_FILE).services)
    load_into_store(store, TOPOLOGY_FILE)
    assert _counts(store) == first  # loading again replaces, never appends
    smaller = _broken(tmp_path, lambda d: [d["groups"].pop(g) for g in list(d["groups"])[1:]])
    load_into_store(store, smaller)
    assert _counts(store)["topology_groups"] == 1
    row = store.cursor().execute(
        "SELECT producer, event_types, dead_letter FROM topology_topics WHERE name = ?", ["shop.payments"]).fetchone()
    assert row == ("payments-api", ["PaymentCaptured"], False)
    edge = store.cursor().execute(
        "SELECT caller, callee, method, route FROM topology_sync_edges WHERE callee = 'tax-api'").fetchall()
    assert edge == [("pricing-api", "tax-api", "GET", "/tax/rates")]
    assert store.cursor().execute("SELECT value FROM topology_limits WHERE name = 'max_sync_depth'").fetchone() == (3,)


def test_failed_load_keeps_the_previous_declaration(store: Store, tmp_path: Path) -> None:
    load_into_store(store, TOPOLOGY_FILE)
    before = _counts(store)
    with pytest.raises(ConfigError):
        load_into_store(store, _broken(tmp_path, lambda d: d["groups"]["email"].update(service="ghost")))
    assert _counts(store) == before


def test_cli_prints_a_broken_topology_as_one_sentence(tmp_path: Path, monkeypatch) -> None:
    from dashboard.cli import cli

    broken = _broken(tmp_path, lambda d: d["topics"]["shop.orders"].update(producer="nobody"))
    monkeypatch.setattr("sample_topology.TOPOLOGY_FILE", broken)
    result = CliRunner().invoke(cli, ["demo", "--load-only", "--minutes", "1", "--db", str(tmp_path / "d.duckdb")])
    assert result.exit_code == 2
    assert "producer 'nobody' is not a declared service" in result.output
    assert "Traceback" not in result.output
