"""``python -m cnnshape_ls``: the language server on stdio (as ``cnnshape-ls``)."""

import sys

from .cli import serve_main

sys.exit(serve_main())
