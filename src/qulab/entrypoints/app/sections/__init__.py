"""One module per page; Streamlit runs each file as a script, which calls its ``render()``."""
