"""The one exception type that means "the user's input is wrong"."""


class ShiftbenchError(Exception):
    """Bad input or an impossible request; the CLI prints it as one line and exits non-zero."""
