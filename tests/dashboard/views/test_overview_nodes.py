"""The Overview's graph: a node opens its findings and its pages, filtered to it."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from tests.support.markdown import as_read


def _links(at: AppTest) -> list[tuple[str, str, str]]:
    return [(as_read(p.proto.label), p.proto.page, p.proto.query_string) for p in at.get("page_link")]


def test_a_group_node_opens_its_findings_and_its_filtered_pages(app: AppTest) -> None:
    app.query_params["range"] = "all"
    at = app.run()
    assert not at.exception
    at.selectbox(key="ov_node").set_value("group:invoicing").run()
    assert not at.exception, [e.value for e in at.exception]
    found = _links(at)
    assert any("IDEMPOTENCY_VIOLATION" in label and "finding=IDEMPOTENCY_VIOLATION" in q for label, _, q in found), found
    for slug in ("lag", "redeliveries", "idempotency"):
        assert any(page == slug and "group=invoicing" in q for _, page, q in found), (slug, found)


def test_a_service_node_opens_call_chains_for_it_and_sync_edges_carry_rate_and_p95(app: AppTest) -> None:
    app.query_params["range"] = "all"
    at = app.run()
    at.selectbox(key="ov_node").set_value("service:web-checkout").run()
    assert any(page == "call-chains" and "service=web-checkout" in q for _, page, q in _links(at))
    graph = json.loads(at.get("plotly_chart")[0].proto.spec)
    labels = [a["text"] for a in graph["layout"]["annotations"]]
    assert any("/min<br>p95 " in text for text in labels), labels  # rate over p95, two lines between layers
