"""User-facing errors. Each carries a message that names what is wrong and where, a title and a hint.

The CLI prints them as a panel on stderr and exits with `exit_code` (2 for bad input); the TUI shows the same
text. Nothing here prints a traceback: a WorkbenchError is an expected condition, not a bug.

    WorkbenchError
     ├── ProfileError        a profile file is missing, unparsable or invalid (carries every problem found)
     ├── StoreError          the database is locked, read-only, damaged, or from a newer version
     ├── EngineError         a run could not start (unknown route, missing API key env var, ...)
     └── SimError            the simulator could not start
(Provider call failures are `workbench.providers.base.ProviderError`: they become hop errors, not exits.)
"""

from __future__ import annotations


class WorkbenchError(Exception):
    exit_code = 2
    title = "workbench error"

    def __init__(self, message: str, *, hint: str | None = None, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if title:
            self.title = title

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n{self.hint}"


class ProfileError(WorkbenchError):
    title = "profile error"

    def __init__(self, message: str, *, problems: list[str] | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.problems = problems or [message]


class StoreError(WorkbenchError):
    title = "session store error"


class EngineError(WorkbenchError):
    title = "engine error"


class SimError(WorkbenchError):
    title = "simulator error"
