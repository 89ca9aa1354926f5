"""Remember: the four relationship types, each with its declaration, DDL and a join.

One-to-many and many-to-one are QuLab's own models; one-to-one and many-to-many are a throwaway
schema compiled for the configured database's dialect (qulab.lab.relationships): nothing is
created, nothing of the learner's data is touched.
"""

from __future__ import annotations

import streamlit as st

from qulab.entrypoints.app.context import lab_context
from qulab.lab.relationships import catalogue

SUBHEADER = "Remember: relationship types"


def render_relationships() -> None:
    context = lab_context()
    dialect = context.db.dialect
    st.subheader(SUBHEADER)
    st.markdown(
        f"The four relationship types, with the DDL and a join compiled for **{dialect}** (the "
        "configured database). The first two are QuLab's own models; the last two use a "
        "throwaway schema (`user_profiles`, `skills`, `user_skills`) that is only compiled, "
        "never created."
    )
    examples = catalogue(dialect)
    tabs = st.tabs([example.kind for example in examples])
    for tab, example in zip(tabs, examples, strict=True):
        with tab:
            origin = "QuLab's models" if example.from_models else "throwaway schema"
            st.markdown(f"**{example.kind}** ({origin}): {example.summary}")
            st.code(example.declaration, language="python")
            st.code(";\n\n".join(example.ddl) + ";", language="sql")
            st.markdown("A join along it:")
            st.code(example.query + ";", language="sql")
