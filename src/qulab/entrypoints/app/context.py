"""What every page starts from: the current settings and the database built for them."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from qulab.core import ConfigurationError, Database, Settings
from qulab.entrypoints.app import runtime
from qulab.entrypoints.app.feedback import friendly_message


@dataclass(frozen=True)
class LabContext:
    settings: Settings
    db: Database


def lab_context() -> LabContext:
    """The settings and database, or a message saying how to fix the configuration (stops)."""
    try:
        settings = runtime.settings()
        return LabContext(settings, runtime.database(settings))
    except ConfigurationError as error:
        st.error(friendly_message(error), icon=":material/error:")
        st.stop()
