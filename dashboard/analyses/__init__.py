"""Analyses: SQL over the store, one owner per metric, callable without Streamlit."""
