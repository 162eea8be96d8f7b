"""The tap's records/s with one or more collector processes on one store (`seamwatch bench scale`).

Each process is this module run again (collectors.bench.child): a Kafka tap on the store, in
the group the others share, so Kafka's group protocol splits the topic's partitions among
them as it does among `seamwatch collect` processes. A process stops once the store holds
every record of the topic, whoever wrote it, and prints when it started and stopped; the
aggregate rate is the topic's records over the span from the first start to the last stop
(joining the group and its rebalance included, as a collector pays them).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from collectors.bench import child


def measure(db: str, bootstrap: str, topic: str, messages: int, group: str) -> dict[str, Any]:
    from collectors.kafka.config import KafkaSettings
    from collectors.kafka.tap import KafkaTap
    from collectors.store import Store

    with Store(db) as store:
        settings = KafkaSettings(bootstrap=[bootstrap], cluster="bench", include=(topic,), lag=False,
                                 group_id=group)
        tap = KafkaTap(store, settings, from_beginning=True)
        cur = store.cursor()
        start = time.time()
        tap.start()
        try:
            while cur.execute("SELECT count(*) FROM records WHERE topic = ?", [topic]).fetchone()[0] < messages:
                time.sleep(0.1)
            end = time.time()
        finally:
            tap.stop()
        return {"start": start, "end": end, "records": tap.status().records}


def run(db: str, bootstrap: str, topic: str, messages: int, processes: int, group: str) -> dict[str, Any]:
    """``processes`` taps on ``db`` at once; the aggregate records/s and each one's share."""
    args = [db, bootstrap, topic, str(messages), group]
    procs = [subprocess.Popen(child.command("collectors.bench.scale", *args), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(processes)]
    results = []
    for p in procs:
        out, err = p.communicate()
        if p.returncode != 0:
            lines = [line for line in err.strip().splitlines() if line.strip()]
            raise child.BenchError(f"the scale tap bench run failed: {lines[-1] if lines else p.returncode}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    seconds = max(r["end"] for r in results) - min(r["start"] for r in results)
    return {"seconds": seconds, "rate": messages / seconds, "shares": [r["records"] for r in results]}


if __name__ == "__main__":
    db_, bs, tp, n, grp = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    print(json.dumps(measure(db_, bs, tp, n, grp)))
