"""What a simulated model does: the dials a profile (or a request header) sets for the embedded simulator.

Pure pydantic, no server code: the profile schema embeds `SimBehaviour` under a model's `sim:` key, and the
server reads it. A request may override any dial for itself with the header
`x-sim-behaviour: <JSON object of SimBehaviour fields>` (tests and the benchmark use this), and pick the seed
with `x-sim-seed`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FaultKind = Literal[
    "http_429",  # 429 with Retry-After (and retry-after-ms)
    "http_500",
    "http_503",
    "http_529",  # Anthropic "overloaded_error" (sent as 529 on either wire format)
    "hang",  # accept the request, never send headers (until the client gives up)
    "stall",  # start streaming, then stop sending mid-stream without closing
    "drop",  # start streaming, then close the connection mid-stream
    "malformed",  # a JSON body / SSE event that does not parse
    "http_200_error",  # HTTP 200 whose body/stream carries an error object
    "tool_arguments_malformed",  # a tool call whose arguments are cut short (not valid JSON)
    "tool_unknown",  # a tool call naming a tool the request did not offer
]

UsageShape = Literal[
    "openai",  # prompt_tokens includes cached_tokens; completion_tokens includes reasoning_tokens
    "anthropic",  # input_tokens excludes cache reads/writes; message_delta usage cumulative
    "gemini_openai",  # Gemini's OpenAI-compatible endpoint: reasoning reported apart (not inside completion_tokens)
    "none",  # a server that never reports usage
]


#: the longest simulated answer: long enough for any context-window test, short enough that one model's answer
#: cannot starve the embedded simulator's event loop for the others
MAX_ANSWER_TOKENS = 100_000


class Fault(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: FaultKind
    rate: float = Field(default=1.0, ge=0.0, le=1.0, allow_inf_nan=False, description="probability per request")
    retry_after_s: float | None = Field(
        default=1.0, ge=0, le=86_400, allow_inf_nan=False, description="Retry-After for http_429 (at most a day)"
    )
    after_tokens: int = Field(
        default=5, ge=0, le=MAX_ANSWER_TOKENS, description="for stall/drop/malformed in a stream: tokens sent first"
    )


class SimBehaviour(BaseModel):
    """Per-model behaviour of the simulator. Deterministic given the seed and the request's content."""

    model_config = ConfigDict(extra="forbid")
    ttft_ms: float = Field(
        default=150.0, ge=0, le=3_600_000, allow_inf_nan=False, description="time to first token (ms, at most 1 h)"
    )
    tokens_per_s: float = Field(default=60.0, gt=0, le=1e9, allow_inf_nan=False, description="streaming throughput")
    answer_tokens: int = Field(
        default=60,
        ge=1,
        le=MAX_ANSWER_TOKENS,
        description=f"length of the answer in tokens (approx.; ends on a word; at most {MAX_ANSWER_TOKENS:,})",
    )
    faults: list[Fault] = Field(default_factory=list)
    usage_shape: UsageShape | None = Field(default=None, description="default: the wire format's own shape")
    cached_tokens: int = Field(default=0, ge=0, le=10**9, description="prompt tokens reported as cache reads")
    cache_write_5m_tokens: int = Field(
        default=0, ge=0, le=10**9, description="prompt tokens reported as 5-minute cache writes"
    )
    cache_write_1h_tokens: int = Field(
        default=0, ge=0, le=10**9, description="prompt tokens reported as 1-hour cache writes"
    )
    reasoning_tokens: int = Field(default=0, ge=0, le=10**9, description="hidden reasoning tokens reported")
    reject_stream_options: bool = Field(default=False, description="answer 400 when stream_options is sent")
    omit_stream_usage: bool = Field(default=False, description="never send the usage chunk in streams")
    ignore_max_tokens: bool = Field(
        default=False, description="a server that ignores max_tokens: the answer runs to answer_tokens regardless"
    )
    seed: int | None = Field(default=None, description="overrides the server's seed for this model")
    markdown: bool = Field(
        default=True, description="answers of 60+ tokens in Markdown: a heading, a list or a code block"
    )
    plays_roles: bool = Field(
        default=True,
        description="answer classifier and judge prompts in their format (off: plain prose, as a confused model)",
    )
    context_window: int | None = Field(
        default=None,
        gt=0,
        le=10**9,
        description="reject prompts of more tokens with the wire format's context-length error (HTTP 400)",
    )
    call_tools: bool = Field(
        default=True,
        description="when a request offers tools, call the best-matching one (off: always answer in text)",
    )
    parallel_tool_calls: bool = Field(
        default=False, description="call two tools in one turn (unless the request disallows parallel calls)"
    )
    tool_argument_pieces: int = Field(
        default=1, ge=1, le=100_000, description="stream each tool call's arguments over this many deltas"
    )
    show_thinking: bool = Field(
        default=False,
        description="show reasoning before the answer (Anthropic `thinking` block, OpenAI-compatible"
        " `reasoning_content`); its tokens count as reasoning",
    )
    unknown_content: bool = Field(
        default=False,
        description="also send a content block (delta) of a made-up kind, as a newer API version might",
    )
    tokenizer: str = Field(
        default="o200k_base",
        description="encoding the simulator counts usage with (the engine sets it from the profile)",
    )
