"""Imports every benchmark module so that each registers itself with the harness."""

import bench.cache
import bench.nplusone
import bench.outbox
import bench.pool
import bench.relays  # noqa: F401
