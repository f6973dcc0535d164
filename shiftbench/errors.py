"""The exception types that mean "the user's input is wrong", "a file could not be
written" and "the user stopped the run"."""

from collections.abc import Callable


class ShiftbenchError(Exception):
    """Bad input or an impossible request; the CLI prints it as one line and exits 2.

    A message may name the parameters it is about as `{name}` fields, listed after it:
    `ShiftbenchError("{max_shift} must be >= 0", "max_shift")` reads "max_shift must be
    >= 0" from Python, and the CLI shows the parameter as its flag (`naming`)."""

    def __init__(self, message: str, *parameters: str) -> None:
        self.template = message
        self.parameters = parameters
        super().__init__(self.naming(lambda name: name))

    def naming(self, name_of: Callable[[str], str]) -> str:
        """The message with each parameter named by `name_of` (a flag, for the CLI)."""
        text = self.template
        for parameter in self.parameters:
            text = text.replace("{" + parameter + "}", name_of(parameter))
        return text


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
