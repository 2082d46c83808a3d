"""How tinygan's commands end: exit statuses and one-line error messages.

Every command (``python -m tinygan.train``, ``sample``, ``judge``, ``evaluate``) reports
bad input (a flag, a data file, a checkpoint) as one line ``error: ...`` on stderr, with
no traceback, and exits with:

- 0 when it succeeds,
- 1 when the run itself fails (a command's ``main`` returns 1, as training does on a NaN loss),
- 2 for bad input: argparse errors, ValueError (MnistError included), OSError (a missing
  or unreadable file), a backend that cannot run here, and ``SystemExit("message")``
  raised by a command,
- 130 on Ctrl-C.

Any other exception is a bug in tinygan and keeps its traceback; ``TINYGAN_TRACEBACK=1``
shows the traceback of bad-input errors too (when a ValueError is really a bug).
"""
import argparse
import os
import sys

from . import backend, fast, threads
from .backend import BackendUnavailable

BAD_INPUT = 2
INTERRUPTED = 130


def set_up(backend_name=None):
    """A command's process-wide settings, made once and visibly at its start: the array backend
    (``--backend``, else TINYGAN_BACKEND, else automatic), the implementation set (TINYGAN_KERNELS; a
    bad value is an error here, before any work) and the host threads (:func:`tinygan.threads.set_threads`:
    the thread pool, OpenBLAS kept to one thread). Returns the host thread count."""
    backend.set_backend(backend_name)
    fast.use()
    return threads.set_threads()


def error_line(message):
    """``'error: <message>'`` on one line: the lines of a multi-line message joined by spaces."""
    return "error: " + " ".join(line.strip() for line in str(message).splitlines() if line.strip())


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, reporting a bad flag as one ``error: ...`` line (exit status 2);
    ``quiet``: exit with that status silently (the processes of a run other than the first,
    which meet the same flags)."""

    def __init__(self, *args, quiet=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.quiet = quiet

    def error(self, message):
        self.exit(BAD_INPUT, None if self.quiet else error_line(message) + "\n")


def describe(error):
    """The message of a bad-input exception: an OSError as 'file: reason'."""
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.filename}: {error.strerror}"
    return str(error) or type(error).__name__


def run_command(main, argv=None):
    """Run a command's ``main(argv)`` and return its exit status (see the module docstring);
    bad input is printed to stderr as one ``error: ...`` line. Use as
    ``sys.exit(run_command(main))``."""
    try:
        return main(argv) or 0
    except BaseException as error:
        return exit_status(error)


def exit_status(error):
    """The exit status for an exception that ended a command (see the module docstring),
    after printing its one line; a bug (any other exception) is raised again."""
    if isinstance(error, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
        return INTERRUPTED
    if isinstance(error, SystemExit):
        if isinstance(error.code, str):
            return report(error.code)
        return error.code or 0
    if isinstance(error, (ValueError, OSError, BackendUnavailable)) and not os.environ.get("TINYGAN_TRACEBACK"):
        return report(describe(error))
    raise error


def report(message):
    """Print ``message`` as one ``error: ...`` line on stderr; return the bad-input status."""
    print(error_line(message), file=sys.stderr, flush=True)
    return BAD_INPUT
