"""The exception types that mean "the user's input is wrong", "a file could not be
written" and "the user stopped the run"."""


class ShiftbenchError(Exception):
    """Bad input or an impossible request; the CLI prints it as one line and exits 2."""


class WriteError(ShiftbenchError):
    """A file could not be written (a full disk, a folder without permission). The input was
    fine, so what a run had already kept (finished chunks) stays for `--resume`."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT), with what the run leaves behind in its message; the CLI prints it as
    one line and exits 130."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
