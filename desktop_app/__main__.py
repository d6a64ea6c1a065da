"""``python -m desktop_app``: the window without arguments, the command line with them.

See :mod:`desktop_app.cli` for the commands and exit status. The ``ecg-case-finder`` console
script points at :func:`main` here.
"""

from __future__ import annotations

import sys

from desktop_app.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
