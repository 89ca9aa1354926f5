"""``python -m bench [NAME ...]``: run benchmarks and write docs/benchmarks.md."""

from __future__ import annotations

import asyncio
import sys

from bench.harness import REGISTRY, BenchConfig, run, write_results


def main(argv: list[str]) -> int:
    import bench.suites  # noqa: F401

    names = argv or sorted(REGISTRY)
    if names == ["all"]:
        names = sorted(REGISTRY)
    reports = asyncio.run(run(names, BenchConfig()))
    json_path, md_path = write_results(reports)
    print(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
