"""The pages of the app, in menu order: (file, title, icon, url path, section).

app.py builds st.navigation from this list; tests walk it to reach every page.
"""

from __future__ import annotations

PAGES: list[tuple[str, str, str, str, str]] = [
    ("pages/overview.py", "Overview", ":material/hub:", "overview", "Now"),
    ("pages/redeliveries.py", "Redeliveries", ":material/replay:", "redeliveries", "Delivery"),
    ("pages/dead_letters.py", "Dead letters", ":material/report:", "dead-letters", "Delivery"),
    ("pages/idempotency.py", "Idempotency", ":material/content_copy:", "idempotency", "Delivery"),
]
