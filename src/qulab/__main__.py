"""``python -m qulab`` and the ``qulab`` script: the command line, SIGTERM held while it loads."""

import sys

from qulab._startup import hold_sigterm


def main() -> None:
    hold_sigterm()
    try:
        from qulab.entrypoints.cli import entry  # loaded only once SIGTERM is held
    except KeyboardInterrupt:  # Ctrl-C while loading: the same one line as during a command
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    entry()


if __name__ == "__main__":
    main()
