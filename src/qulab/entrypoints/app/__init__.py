"""The QuLab lab: a Streamlit multipage app. Streamlit is imported only inside this package.

Importing ``qulab.entrypoints.app`` itself imports nothing from Streamlit, so the CLI can locate
the app.
"""

from pathlib import Path

APP_DIR = Path(__file__).parent
MAIN_SCRIPT = APP_DIR / "main.py"

__all__ = ["APP_DIR", "MAIN_SCRIPT"]
