"""Imports every benchmark module so that each registers itself with the harness."""

import bench.cache  # noqa: F401
