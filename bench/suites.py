"""Imports every benchmark module so that each registers itself with the harness."""

import bench.cache
import bench.cache_strategies
import bench.cli_start
import bench.nplusone
import bench.orm_tax
import bench.outbox
import bench.peers
import bench.pool
import bench.relays
import bench.replicas  # noqa: F401
