"""The only part of the studio package that imports Streamlit: shared widgets, state and resources."""
