"""``python -m audioae ...``: the same as the ``audioae`` command."""

import sys

from .cli import main

sys.exit(main())
