"""The provider adapter contract: a chat request in, a stream of chunks out, errors classified.

Each adapter speaks one wire format over an injected, shared `httpx.AsyncClient` (one per provider, pooled
keep-alive connections). It turns the wire stream into the common chunks below and raises `ProviderError`
with a `kind` and a `retryable` flag, so the engine decides retries and fallbacks without knowing the wire.

Stream contract (`Adapter.stream`), in order:
    TextDelta*        visible text, in arrival order (role-only / keep-alive frames are never yielded);
                      interleaved with `ThinkingDelta` (reasoning shown apart, never answer text), `ToolCallDelta`
                      (fragments of the turn's tool calls, by index) and `UnsupportedContent` (a block or delta
                      kind the adapter does not know, reported instead of dropped)
    UsageReport*      the provider-reported usage, mapped into the normalized `Usage`; the last one wins.
                      A report with `final=False` may come early with the prompt side only (Anthropic's
                      `message_start`), so a stream that breaks later still has reported input figures.
                      (No report at all when the provider sent none; the engine then estimates.)
    StreamEnd         exactly once on success, with the finish reason normalized (stop, length, tool_calls,
                      content_filter) and the wire's own word beside it
Tool-call arguments that are not a JSON object once the stream is whole are a `malformed` ProviderError raised
instead of the StreamEnd. An error at any point (before or mid-stream, including HTTP 200 with an error body and a stream that closes
without its terminator) raises `ProviderError` from the iterator. Cancelling the iterator closes the response.

Error taxonomy (`ProviderError.kind`, a `workbench.errors.ErrorClass`) and whether it is retryable:
    rate_limit (429) yes | overloaded (529) yes | server (500, 502, 503, 504) yes | timeout (408, connect/read/
    first-token/idle) yes | conflict (409) yes | connection (refused/dropped mid-stream) yes | malformed (body
    or event that does not parse) yes | bad_request (400, 422) no | auth (401, 403) no | not_found (404) no |
    context_window (prompt too long) no | content_policy no | quota (spend limit / insufficient_quota 429) no
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import httpx

from workbench.accounting.usage import Usage
from workbench.errors import RETRYABLE, ErrorClass
from workbench.providers.content import (
    FinishReason,
    FrozenJSON,
    Message,
    ToolChoice,
    ToolSpec,
    coerce_messages,
    coerce_tool_choice,
    coerce_tools,
    freeze,
)

#: a provider error's kind is a value of the one taxonomy (`workbench.errors.ErrorClass`)
ErrorKind = ErrorClass
RETRYABLE_KINDS: frozenset[ErrorClass] = RETRYABLE


class ProviderError(Exception):
    """A provider call failed. `kind` classifies it; `retryable` says whether another try (or target) may help."""

    def __init__(
        self,
        kind: ErrorClass,
        message: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
        provider: str | None = None,
        model: str | None = None,
        retryable: bool | None = None,
        body: str | None = None,
        sent: bool = True,
    ) -> None:
        super().__init__(message)
        # (a plain string from untyped code is checked too: one outside the taxonomy is a bug, raised here)
        self.kind: ErrorClass = ErrorClass(kind)
        self.message = message
        self.status = status
        self.retry_after_s = retry_after_s
        self.provider = provider
        self.model = model
        self.retryable = kind in RETRYABLE_KINDS if retryable is None else retryable
        self.body = body[:2000] if body else None
        #: False when the request never reached the provider (could not connect): nothing can have been billed
        self.sent = sent

    def __str__(self) -> str:
        where = f"{self.provider}/{self.model}: " if self.provider else ""
        status = f"HTTP {self.status} " if self.status else ""
        return f"{where}{status}{self.kind}: {self.message}"


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One call, immutable and hashable. `messages` (and `tools`) may be given as dicts: they are converted to
    `Message` (`ToolSpec`) on construction; `tool_choice` as "auto", "none", "required" or a tool's name."""

    model: str  # wire model id
    messages: tuple[Message, ...]  # system turns may be here too; the Anthropic adapter moves them to `system`
    system: str | None = None
    max_tokens: int = 1024
    temperature: float | None = None
    stream: bool = True
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice | None = None  # None: the provider's default (auto when tools are offered)
    parallel_tool_calls: bool | None = None  # None: the provider's default (allowed)
    extra_headers: Mapping[str, str] = field(default_factory=FrozenJSON)
    extra_body: Mapping[str, Any] = field(default_factory=FrozenJSON)

    def __post_init__(self) -> None:
        setter = object.__setattr__
        setter(self, "messages", coerce_messages(self.messages))
        setter(self, "tools", coerce_tools(self.tools))
        setter(self, "tool_choice", coerce_tool_choice(self.tool_choice))
        setter(self, "extra_headers", freeze(self.extra_headers))
        setter(self, "extra_body", freeze(self.extra_body))


@dataclass(slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ThinkingDelta:
    """Reasoning the model shows (Anthropic `thinking` blocks, `reasoning_content` on OpenAI-compatible servers):
    counted and kept apart, never part of the answer. Empty text: thinking that was sent redacted."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A fragment of tool call `index` (0-based among this turn's calls). The first fragment of a call carries
    its `id` and `name`; `arguments` fragments concatenate into the call's JSON arguments."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class UnsupportedContent:
    """A content block or delta of a kind this adapter does not know (reported once per kind per call; never
    dropped silently). `kind` names it as the wire does (e.g. `content_block:server_tool_use`)."""

    kind: str
    detail: str = ""


@dataclass(slots=True)
class UsageReport:
    usage: Usage  # input_source/output_source == "reported" for the figures the provider gave
    raw: dict[str, Any] | None = None  # the wire usage object as received (for debugging; no secrets in it)
    final: bool = True  # False: an early, prompt-side report; its output side is not to be trusted


@dataclass(slots=True)
class StreamEnd:
    """`finish_reason` normalized across wire formats; `raw_reason` the wire's own word (not compared)."""

    finish_reason: FinishReason | None = None
    raw_reason: str | None = field(default=None, compare=False)


Chunk = TextDelta | ThinkingDelta | ToolCallDelta | UnsupportedContent | UsageReport | StreamEnd


class Adapter(abc.ABC):
    """One wire format. Subclasses implement `stream`; construction never does I/O."""

    wire: ClassVar[str]
    #: capability flags (checked instead of hasattr)
    SUPPORTS_STREAM_USAGE: ClassVar[bool] = True
    #: the path under a server's root that `base_url` points at ("/v1" for OpenAI's wire, whose URLs are relative
    #: to https://api.openai.com/v1): how a plugin serving several wires on one root (the simulator) builds base URLs
    API_ROOT: ClassVar[str] = ""

    @classmethod
    def continuation(
        cls, messages: list[dict[str, Any]], prefix: str, instruction: str
    ) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
        """The messages that ask a model to continue `prefix` (the kept start of an answer that was cut), and what
        the continuation may repeat of it before going on (the engine drops that echo). This wire cannot continue
        a trailing assistant turn by itself (OpenAI chat completions): it is sent, then `instruction` asks."""
        asked = [*messages, {"role": "assistant", "content": prefix}, {"role": "user", "content": instruction}]
        return asked, (prefix,)

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str,
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        provider_name: str = "",
        stream_usage: Literal["auto", "always", "never"] = "auto",
    ) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.headers = dict(headers or {})
        self.provider_name = provider_name
        self.stream_usage = stream_usage
        self._secrets: tuple[str, ...] | frozenset[str] | list[str] = ()  # values to mask in errors (set by _prepare)
        self._prepare()

    def _prepare(self) -> None:
        """Subclass hook, run at the end of construction: build the URL and fixed headers (no I/O)."""
        return None

    async def _whole_body(
        self, response: httpx.Response, model: str, http_error: Callable[[], Awaitable[Exception]]
    ) -> bytes:
        """The body of a non-streamed answer; a non-200 status raises `http_error()`. Always closes the response."""
        from workbench.providers.errors import read_body

        if response.status_code != 200:
            try:
                raise await http_error()
            finally:
                await response.aclose()
        return await read_body(response, provider=self.provider_name, model=model, secrets=self._secrets)

    @abc.abstractmethod
    def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        """Send `request`; yield chunks per the module contract; raise `ProviderError` on failure."""
