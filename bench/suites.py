"""Imports every benchmark module so that each registers itself with the harness."""

import bench.outbox  # noqa: F401
