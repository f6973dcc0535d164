"""The one exception type that means "the user's input is wrong"."""


class ShiftbenchError(Exception):
    """Bad input or an impossible request; the CLI prints it as one line and exits non-zero."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
