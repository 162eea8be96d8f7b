"""The broker harness itself: what made whole Kafka runs error now and then."""

from __future__ import annotations

import pytest

from tests.collectors.kafka.conftest import _harness, _unavailable

pytestmark = pytest.mark.kafka


def test_cluster_id_starting_with_a_dash_formats(tmp_path) -> None:
    # base64url ids start with "-" one time in 64; the storage tool once read such an id as an option
    harness = _harness()
    why = harness.missing_requirement()
    if why:
        _unavailable(why)
    harness.fetch()
    broker = harness.Broker(tmp_path / "kafka")
    cluster_id = "-x" + "A" * 20  # 22 characters, like a real id
    broker.format(cluster_id)
    meta = (tmp_path / "kafka" / "data" / "meta.properties").read_text()
    assert f"cluster.id={cluster_id}" in meta
