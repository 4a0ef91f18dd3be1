"""``python -m striate ...``: the ``striate`` command (see :mod:`striate.cli`)."""
import sys

from .cli import main

sys.exit(main())
