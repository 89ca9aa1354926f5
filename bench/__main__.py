"""``python -m bench [NAME ...]``: run benchmarks and write docs/benchmarks.md."""

from __future__ import annotations

import asyncio
import sys

from bench.harness import BenchConfig, run, write_results


def main(argv: list[str]) -> int:
    reports = asyncio.run(run(argv or ["all"], BenchConfig()))
    json_path, md_path = write_results(reports)
    print(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
