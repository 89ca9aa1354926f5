"""Alembic environment of the lab's own table (its version table: ``lab_alembic_version``)."""

from __future__ import annotations

from qulab.core import run_environment
from qulab.lab.models import LabBase

run_environment([LabBase.metadata])
