"""``python -m desktop_app``: the window without arguments, the command line with them.

See :mod:`desktop_app.cli` for the commands and exit status. The ``ecg-case-finder`` console
script and the packaged app (``packaging/entry.py``) point at :func:`main` here.

Two options are handled here, before the command line, because they test the app as a whole
rather than run one command:

``--self-test [--assets DIR] [--window] [--json]``
    :mod:`desktop_app.selftest`: assets, models, one ECG and one text query, and (offscreen)
    the window, each step timed; non-zero exit status on failure.
``--quit-after-shown``
    Open the window, print when it is painted and when the case library is ready, and quit
    (``benchmarks/bench_packaging.py`` measures cold start with it).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from desktop_app.cli import main as cli_main

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the self-test, the start-up benchmark, or the command line / window.

    Parameters
    ----------
    argv : arguments after the program name; ``sys.argv[1:]`` when None.

    Returns
    -------
    int
        The exit status.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--self-test"]:
        from desktop_app import selftest

        return selftest.main(args[1:])
    if args[:1] == ["--quit-after-shown"]:
        from desktop_app import selftest

        return selftest.run_window_benchmark()
    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
