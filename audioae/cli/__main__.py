"""``python -m audioae.cli ...``: the same as the ``audioae`` command."""

import sys

from . import main

sys.exit(main())
