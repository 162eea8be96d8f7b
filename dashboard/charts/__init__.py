"""Charts: a DataFrame in, a plotly figure out. No Streamlit, no SQL."""
