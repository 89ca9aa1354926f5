"""Imports every benchmark module so that each registers itself with the harness."""
