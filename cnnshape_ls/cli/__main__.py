"""``python -m cnnshape_ls.cli check ...``: the ``cnnshape`` command."""

import sys

from . import main

sys.exit(main())
