"""User-facing errors. Each carries a message that names what is wrong and where, a title and a hint.

The CLI prints them as a panel on stderr and exits with `exit_code` (2 for bad input); the TUI shows the same
text. Nothing here prints a traceback: a WorkbenchError is an expected condition, not a bug.

    WorkbenchError
     ├── ProfileError        a profile file is missing, unparsable or invalid (carries every problem found)
     ├── StoreError          the database is locked, read-only, damaged, or from a newer version
     ├── EngineError         a run could not start (unknown route, missing API key env var, ...)
     └── SimError            the simulator could not start
(Provider call failures are `workbench.providers.base.ProviderError`: they become hop errors, not exits.)

`ErrorClass` is the one error taxonomy: a provider error's `kind`, a hop's `error_class` in the event stream and
the classes a profile's `retry.on` may list are all its values (defined here once, imported by all three).
"""

from __future__ import annotations

from enum import StrEnum


class ErrorClass(StrEnum):
    """Why a call (or a hop) failed. The first group is what a provider said or did; the second what workbench
    itself decided (a cap, a budget, a breaker, a rule) or suffered (its own event loop lagged)."""

    # a provider's failure (`ProviderError.kind`, classified from the wire)
    RATE_LIMIT = "rate_limit"
    QUOTA = "quota"
    OVERLOADED = "overloaded"
    SERVER = "server"
    TIMEOUT = "timeout"
    CONFLICT = "conflict"
    CONNECTION = "connection"
    MALFORMED = "malformed"
    AUTH = "auth"
    BAD_REQUEST = "bad_request"
    NOT_FOUND = "not_found"
    CONTEXT_WINDOW = "context_window"
    CONTENT_POLICY = "content_policy"
    UNKNOWN = "unknown"
    # workbench's own
    COST_CAP = "cost_cap"  # refused or cut by a cost cap
    BUDGET = "budget"  # a latency budget ran out
    BREAKER = "breaker"  # skipped: circuit open
    GOVERNANCE = "governance"  # refused by a step's allow/deny rules
    TEMPLATE = "template"  # a step's prompt/system/template failed to render (nothing was sent)
    PATTERN = "pattern"  # a profile's regex (route rule, gate check) ran out of time on this input
    GATE = "gate"  # a quality gate failed
    CANCELLED = "cancelled"  # the user cancelled
    INTERNAL = "internal"  # a defect in workbench itself (reported, never hidden)
    CLIENT_OVERLOADED = "client_overloaded"  # our own event loop lagged: not the provider's fault


#: what `retry.on` retries when a profile does not say (in this order, as `profile explain` shows it)
RETRY_ON_DEFAULT: tuple[ErrorClass, ...] = (
    ErrorClass.RATE_LIMIT,
    ErrorClass.OVERLOADED,
    ErrorClass.SERVER,
    ErrorClass.TIMEOUT,
    ErrorClass.CONFLICT,
    ErrorClass.CONNECTION,
    ErrorClass.MALFORMED,
)
#: the kinds another try (or another target) may cure, when the error itself does not say otherwise: the default
#: retry classes, and our own event loop's lag (not the provider's fault)
RETRYABLE: frozenset[ErrorClass] = frozenset((*RETRY_ON_DEFAULT, ErrorClass.CLIENT_OVERLOADED))


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
