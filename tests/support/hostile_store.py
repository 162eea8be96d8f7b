"""The sample shop with hostile names: what the dashboard must render as plain text.

The simulator writes the shop's files; every string in them then has its service, topic,
group and event-type names replaced by the same names carrying Markdown and HTML payloads
(an image, a phishing link, a backtick break-out, Streamlit directives, HTML tags), and the
collectors' own importer reads the result. So the names reach every table, every analysis
and every finding exactly as a hostile cluster would put them there.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

EVIL = "evil.example"
# name in the sample shop → the hostile name that replaces it everywhere.
HOSTILE: dict[str, str] = {
    "shop.orders": f"shop.orders`![pixel](https://{EVIL}/pixel.png)`",
    "orders-api": f"orders-api[Session expired](https://{EVIL}/login)",
    "payments-api": f'payments-api<a href="https://{EVIL}/pay">pay</a><span style="font-size:80px">BIG</span>',
    "fulfillment": f"fulfillment`](https://{EVIL}/tick)`",
    "OrderCreated": f"OrderCreated`![tick](https://{EVIL}/tick.png)` :red[alert] $x^2$ <b>b</b>",
    "email-service": f"email-service **bold** _em_ <https://{EVIL}/auto> www.{EVIL}",
}
_PATTERN = re.compile("|".join(re.escape(k) for k in sorted(HOSTILE, key=len, reverse=True)))


def hostile(text: str) -> str:
    return _PATTERN.sub(lambda m: HOSTILE[m.group(0)], text)


def _walk(value: Any) -> Any:
    if isinstance(value, str):
        return hostile(value)
    if isinstance(value, list):
        return [_walk(v) for v in value]
    if isinstance(value, dict):
        return {hostile(k): _walk(v) for k, v in value.items()}
    return value


def build_hostile_sample(db: Path, data_dir: Path, *, seed: int = 7, minutes: int = 30) -> None:
    """`seamwatch demo`'s data with hostile names, imported the way `seamwatch import` does
    (no declared topology: its YAML could not carry these names as they are)."""
    from collectors.derive import derive_all
    from collectors.importer import import_file
    from collectors.normalize.wire_format import FolderSchemas, WireDecoder
    from collectors.store import Store
    from sample_topology.simulator import SCHEMAS, simulate_to_dir

    raw, out = data_dir / "raw", data_dir / "hostile"
    out.mkdir(parents=True, exist_ok=True)
    simulate_to_dir(raw, seed=seed, minutes=minutes)
    files = sorted(p for p in raw.iterdir() if p.is_file())  # beside them, the Avro topic's schemas folder
    for f in files:
        lines = [json.dumps(_walk(json.loads(line))) for line in f.read_text().splitlines() if line.strip()]
        (out / f.name).write_text("\n".join(lines) + "\n")
    decoder = WireDecoder(FolderSchemas(raw / SCHEMAS))
    with Store(db) as store:
        for f in sorted(out.iterdir()):
            import_file(store, f, cluster="sample", decoder=decoder)
        derive_all(store, quiet_for=timedelta(0))
