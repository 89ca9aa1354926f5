"""``python -m bench [NAME ...] [--write-docs]``: run benchmarks (``qulab bench`` is the same
with more options); the docs are rewritten only with ``--write-docs``."""

from __future__ import annotations

import asyncio
import sys

from bench.harness import REGISTRY, BenchConfig, run, write_results


def main(argv: list[str]) -> int:
    write_docs = "--write-docs" in argv
    names = [arg for arg in argv if arg != "--write-docs"]
    if not names:
        import bench.suites  # noqa: F401  (registers every benchmark)

        for name in sorted(REGISTRY):
            print(f"{name}: {REGISTRY[name].about}")
        return 0
    reports = asyncio.run(run(names, BenchConfig(write_docs=write_docs)))
    if write_docs:
        json_path, md_path = write_results(reports)
        print(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
