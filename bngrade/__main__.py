"""``python -m bngrade`` is the ``bngrade`` command."""

import sys

from .driver.cli import main

if __name__ == "__main__":
    sys.exit(main())
