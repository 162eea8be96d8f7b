"""The pages of the app, in menu order: (file, title, icon, url path, section).

app.py builds st.navigation from this list; tests walk it to reach every page. The page
files live in views/, not pages/: Streamlit runs a `pages/` folder beside the entry script
as a legacy multipage app and then never executes app.py, so st.navigation would not apply.
"""

from __future__ import annotations

PAGES: list[tuple[str, str, str, str, str]] = [
    ("views/overview.py", "Overview", ":material/hub:", "overview", "Now"),
    ("views/changes.py", "What changed", ":material/difference:", "what-changed", "Now"),
    ("views/findings.py", "Findings", ":material/flag:", "findings", "Now"),
    ("views/call_chains.py", "Call chains", ":material/account_tree:", "call-chains", "Design"),
    ("views/trace.py", "Trace", ":material/timeline:", "trace", "Design"),
    ("views/event_design.py", "Event design", ":material/draw:", "event-design", "Design"),
    ("views/lag.py", "Event lag", ":material/hourglass_bottom:", "lag", "Delivery"),
    ("views/redeliveries.py", "Redeliveries", ":material/replay:", "redeliveries", "Delivery"),
    ("views/dead_letters.py", "Dead letters", ":material/report:", "dead-letters", "Delivery"),
    ("views/idempotency.py", "Idempotency", ":material/content_copy:", "idempotency", "Delivery"),
    ("views/records.py", "Records", ":material/manage_search:", "records", "Delivery"),
]
