"""Entry points: the ``qulab`` command (cli/) and the Streamlit lab (app/); the only places
Typer and Streamlit are imported.
"""
