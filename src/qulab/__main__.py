"""``python -m qulab`` and the ``qulab`` script: the command line, SIGTERM and Ctrl-C held
while it loads."""

import sys


def main() -> None:
    try:
        from qulab._startup import hold_sigint, hold_sigterm

        hold_sigint()  # first: whoever waits for the SIGTERM handler finds Ctrl-C held too
        hold_sigterm()
        from qulab.entrypoints.cli import entry  # loaded only once both signals are held
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")  # the same one line as during a command
        sys.exit(130)
    entry()  # releases Ctrl-C once the commands are built


if __name__ == "__main__":
    main()
