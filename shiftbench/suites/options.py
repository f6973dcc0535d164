"""How a suite declares its options: a frozen dataclass whose fields are `option`s.

A declaration is the one place an option is described. From it come the command line's flag
(`--shift-passes` for `shift_passes`, with the declared help), the refusal of a value given
while the suite is not selected, what `shiftbench check` and `--resume` compare, and the
option's entry in results.json's config.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from ..errors import ShiftbenchError


@dataclass(frozen=True)
class Option:
    """What a suite option is: its `help`; whether `shiftbench check` compares it
    (`compared`; when False, the suite's resolved settings are compared instead); the
    `minimum` of a number or the `choices` of a name; `parse`, how a flag's text becomes the
    value; `check`, a test of the value that returns what is wrong with it (or None)."""

    help: str
    compared: bool = True
    minimum: int | None = None
    choices: tuple[str, ...] = ()
    parse: Callable[[str], Any] | None = None
    check: Callable[[Any], str | None] | None = None

    def problem(self, value: Any) -> str | None:
        """What is wrong with `value` (None when it is fine; None as a value means the
        suite's default)."""
        if value is None:
            return None
        if self.minimum is not None and (not isinstance(value, int) or value < self.minimum):
            return f"must be >= {self.minimum}"
        if self.choices and value not in self.choices:
            return f"must be one of {', '.join(self.choices)}"
        return self.check(value) if self.check else None


def option(default: Any, help: str, **declared: Any) -> Any:
    """A field of a suite's options: its default and its `Option` declaration."""
    return field(default=default, metadata={"option": Option(help, **declared)})


@dataclass(frozen=True)
class SuiteOptions:
    """The options of a suite (none for this base: suites without options use it as is).
    Values are checked against their declarations when the options are made; lists become
    tuples, as results.json gives them back."""

    def __post_init__(self) -> None:
        for name, declared in self.declared().items():
            value = getattr(self, name)
            if isinstance(value, list):
                value = tuple(value)
                object.__setattr__(self, name, value)
            problem = declared.problem(value)
            if problem:
                raise ShiftbenchError(f"{{{name}}} {problem}", name)

    @classmethod
    def declared(cls) -> dict[str, Option]:
        """Every option's declaration, by name, in declaration order."""
        return {f.name: f.metadata["option"] for f in fields(cls)}

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Every option's default, by name."""
        return {f.name: f.default for f in fields(cls)}

    def values(self) -> dict[str, Any]:
        """Every option's value, by name."""
        return {name: getattr(self, name) for name in self.declared()}

    def changed(self) -> list[str]:
        """The options set to another value than their default."""
        defaults = self.defaults()
        return [name for name, value in self.values().items() if value != defaults[name]]
