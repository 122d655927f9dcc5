"""``python -m bngrade`` is the ``bngrade`` command."""

import sys

from .cli import main

sys.exit(main())
