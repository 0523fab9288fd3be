"""Conventions shared by the command lines (`kit.track`, `kit.evaluate`): exit codes and one-line errors."""
from __future__ import annotations

import os
import sys

EXIT_OK, EXIT_STOPPED, EXIT_BAD_INPUT = 0, 1, 2  # done / stopped part-way or a bug / bad input


def report_unexpected(err: Exception) -> int:
    """A bug, not bad input: still one line on stderr; the traceback only with JOINTNLT_DEBUG=1."""
    if os.environ.get("JOINTNLT_DEBUG"):
        raise err
    print(f"error: unexpected {type(err).__name__}: {err} (set JOINTNLT_DEBUG=1 for the traceback)",
          file=sys.stderr)
    return EXIT_STOPPED


THREADS_HELP = ("CPU threads for torch: a number, or 'adaptive' (the default on <= 2 cores: 2 or 1 thread per "
                "frame, from measured step times); default $JOINTNLT_THREADS, else $OMP_NUM_THREADS; docs/speed.md")

