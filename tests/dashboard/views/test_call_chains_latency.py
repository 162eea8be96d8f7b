"""Call chains over the sample store: checkout's latency over time, and its slowest requests opening the Trace view."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest


def _open(at: AppTest, **params: str) -> AppTest:
    at.query_params.update({"page": "call-chains", "range": "all", **params})  # as a link opens it: one run
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def test_checkout_latency_has_three_percentiles_and_its_slowest_requests_call_email(app: AppTest) -> None:
    at = _open(app)
    assert at.selectbox(key="cc_entry").value == "web-checkout POST /checkout", "the slowest user request first"
    chart = next(c for c in at.get("plotly_chart") if "Latency of" in c.proto.spec)
    spec = json.loads(chart.proto.spec)
    assert [t["name"] for t in spec["data"]] == ["p99", "p95", "p50"]
    assert spec["layout"]["yaxis"]["title"]["text"] in ("latency (ms)", "latency (s)")
    slow = next(df for df in (d.value for d in at.dataframe) if "services" in df.columns and "took" in df.columns)
    assert len(slow) == 20
    # the synchronous email is what made the slowest checkouts slow
    assert slow["services"].str.contains("email-service").all(), slow["services"].tolist()
    assert slow["trace"].str.match(r"\./trace\?.*trace=[0-9a-f]{32}&span=[0-9a-f]{16}").all(), slow["trace"][0]


def test_a_service_link_chooses_that_services_entry_point(app: AppTest) -> None:
    at = _open(app, service="fulfillment-service")
    assert at.selectbox(key="cc_entry").value == "fulfillment-service process shop.orders"
