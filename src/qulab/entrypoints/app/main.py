"""The lab's entry script: page setup, navigation and the sidebar, then the chosen page.

``streamlit run`` executes this file (directly, through ``qulab app``, or via the repository's
``app.py``); each page is its own module under ``sections/``.
"""

from __future__ import annotations

import streamlit as st

from qulab.entrypoints.app.context import lab_context
from qulab.entrypoints.app.navigation import PAGES
from qulab.entrypoints.app.sidebar import render_sidebar


def main() -> None:
    st.set_page_config(page_title="QuLab", page_icon=":material/science:", layout="wide")
    pages = [
        st.Page(
            spec.path,
            title=spec.title,
            icon=spec.icon,
            url_path=spec.url_path,
            default=spec.default,
        )
        for spec in PAGES
    ]
    current = st.navigation(pages, position="sidebar", expanded=True)
    context = lab_context()
    current.run()
    # After the page, so the status reflects what the page just did (e.g. initialising).
    render_sidebar(context.settings, context.db)


if __name__ == "__main__":
    main()
