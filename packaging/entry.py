"""Entry point of the packaged app (PyInstaller runs this file as ``__main__``)."""

import multiprocessing
import sys

from desktop_app.__main__ import main

if __name__ == "__main__":
    # No-op unless a library starts worker processes; required for frozen apps if one does.
    multiprocessing.freeze_support()
    sys.exit(main())
