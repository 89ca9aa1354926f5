"""``python -m qulab`` and the ``qulab`` script: the command line, SIGTERM held while it loads."""

from qulab._startup import hold_sigterm


def main() -> None:
    hold_sigterm()
    from qulab.cli import entry  # loaded only once SIGTERM is held

    entry()


if __name__ == "__main__":
    main()
