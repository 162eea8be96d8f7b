"""Text from the data, made safe for plotly's labels.

Plotly draws trace names, tick labels, hover text, titles and annotations as a small HTML
dialect: ``<a href>`` becomes a working link and ``<span style>`` restyles the text. A
service or span name is data, so it is escaped before it reaches a figure; plotly decodes
``&lt;``, ``&gt;`` and ``&amp;`` back to the characters, so the name reads as written.
"""

from __future__ import annotations

import html

import pandas as pd


def esc(value: object) -> str:
    """One label from the data, shown as its text."""
    # quote=False: plotly decodes &lt; &gt; &amp; but would show '&quot;' as it stands.
    return html.escape("" if value is None else str(value), quote=False)


def esc_column(series: pd.Series) -> pd.Series:
    """A column of labels from the data, escaped; missing values stay missing."""
    return series.map(lambda v: v if v is None or (not isinstance(v, str) and pd.isna(v)) else esc(v))
