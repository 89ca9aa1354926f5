"""``python -m qulab``: the same command line as the ``qulab`` script."""

from qulab.cli import entry

if __name__ == "__main__":
    entry()
