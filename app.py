"""Run the QuLab lab with ``streamlit run app.py`` (the same app ``qulab app`` starts)."""

from qulab.entrypoints.app.main import main

main()
