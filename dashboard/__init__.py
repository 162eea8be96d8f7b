"""Seamwatch dashboard: analyses, findings, charts and the Streamlit app."""
