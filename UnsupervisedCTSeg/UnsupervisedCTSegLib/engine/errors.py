"""Exceptions the engine raises on purpose.

Every message names the problem and the fix in one line, because the CLI prints it as is and the
Slicer panel shows it in an error dialog.
"""


class InputError(ValueError):
    """Bad input volume, file or parameter; the message says what is wrong and how to fix it."""


class Cancelled(Exception):
    """The caller's cancel flag was set; nothing was written and nothing is returned."""
