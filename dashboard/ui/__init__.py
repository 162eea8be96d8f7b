"""Streamlit glue shared by the pages: store access, the time filter, deep links, layout.

Only this package and the pages import Streamlit; analyses and charts stay free of it.
"""
