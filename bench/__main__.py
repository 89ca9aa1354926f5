"""``python -m bench [NAME ...] [--write-docs]``: run benchmarks (``qulab bench`` is the same
with more options); the docs are rewritten only with ``--write-docs``."""

from __future__ import annotations

import asyncio
import sys

from bench.harness import REGISTRY, BenchConfig, resolve, run, write_results


def main(argv: list[str]) -> int:
    if {"-h", "--help"} & set(argv):
        print(__doc__)
        return 0
    write_docs = "--write-docs" in argv
    names = [arg for arg in argv if arg != "--write-docs"]
    if not names:
        import bench.suites  # noqa: F401  (registers every benchmark)

        for name in sorted(REGISTRY):
            print(f"{name}: {REGISTRY[name].about}")
        return 0
    try:
        resolve(names)
    except KeyError as error:  # an unknown name: the harness lists the known ones
        print(f"error: {error.args[0]}", file=sys.stderr)
        return 2
    reports = asyncio.run(run(names, BenchConfig(write_docs=write_docs)))
    if write_docs:
        json_path, md_path = write_results(reports)
        print(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
