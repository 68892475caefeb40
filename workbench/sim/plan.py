"""One request's plan, shared by both wire formats: behaviour, fault, answer, finish reason and usage figures;
plus the paced event writer that streams it.

The wire modules parse their request into `Prompt`, ask the server to `admit` it (which resolves the behaviour,
counts the request and draws its fault), and then render the plan in their own format.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from aiohttp import web

from workbench.providers.base import ChatRequest
from workbench.providers.content import ToolCall
from workbench.sim.behaviour import Fault, SimBehaviour, UsageShape
from workbench.sim.text import make_answer, token_deltas, truncate_to_tokens
from workbench.sim.tools import plan_tool_calls, split_pieces, tool_result_answer
from workbench.sim.usage import Figures, figures_for
from workbench.tokens import count_messages, count_text

__all__ = ["Prompt", "Plan", "Pacer", "FrameWriter", "message_text", "split_after", "sleep_ms"]

Finish = Literal["stop", "length", "stop_sequence", "tool_calls"]
#: the fault kinds acted out on the stream itself (the others act before it, or on tool calls)
STREAM_FAULTS = frozenset({"stall", "drop", "malformed", "http_200_error"})


@dataclass
class Prompt:
    """What a request asks, independent of the wire format."""

    model: str
    messages: list[dict[str, Any]]  # system prompt first as {"role": "system"}, for counting
    focus: str  # the last user message's text: where the answer's words come from
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)
    tools: list[Any] | None = None
    #: the request read back with the wire's own decoder, when it offers tools or carries tool turns
    request: ChatRequest | None = None

    @cached_property
    def text(self) -> str:
        """Every message's text, joined: what seeds the answer."""
        parts: list[str] = []
        for message in self.messages:
            parts.append(str(message.get("role", "")))
            parts.append(message_text(message.get("content")))
        return "\n".join(parts)


def message_text(content: Any) -> str:
    """The text of a message content: a string, or the text parts of a list of blocks (nested for tool results)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for part in content:
            if isinstance(part, dict):
                if isinstance(part.get("text"), str):
                    out.append(part["text"])
                elif "content" in part:
                    out.append(message_text(part["content"]))
            elif isinstance(part, str):
                out.append(part)
        return "\n".join(out)
    return ""


def _plain_answer(**kwargs: Any) -> str:
    return make_answer(**kwargs).text


@dataclass
class Plan:
    prompt: Prompt
    behaviour: SimBehaviour
    shape: UsageShape
    seed: int
    index: int  # this model's request number on this server, from 1
    fault: Fault | None
    rng: random.Random  # continues the fault draw's generator: ids
    #: called when the client hangs up before the answer is complete (the server counts it per model)
    on_hangup: Callable[[], None] | None = None
    wire: str = "openai"

    @property
    def stream_fault(self) -> Fault | None:
        """The drawn fault when it acts on the stream (stall, drop, malformed, 200 error), else None."""
        fault = self.fault
        return fault if fault is not None and fault.kind in STREAM_FAULTS else None

    @cached_property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        """The tools this answer calls (empty: it answers in text); see workbench/sim/tools.py."""
        request = self.prompt.request
        if request is None or not self.behaviour.call_tools:
            return ()
        kind = self.fault.kind if self.fault is not None else None
        prefix = "toolu_" if self.wire == "anthropic" else "call_"
        return plan_tool_calls(
            request,
            self.prompt.focus,
            parallel=self.behaviour.parallel_tool_calls,
            malformed=kind == "tool_arguments_malformed",
            unknown=kind == "tool_unknown",
            new_id=lambda: self.new_id(prefix),
        )

    def argument_pieces(self, call: ToolCall) -> list[str]:
        return split_pieces(call.arguments, self.behaviour.tool_argument_pieces)

    def new_id(self, prefix: str, length: int = 24) -> str:
        alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        return prefix + "".join(self.rng.choice(alphabet) for _ in range(length))

    @property
    def encoding(self) -> str:
        return self.behaviour.tokenizer

    @cached_property
    def _answer(self) -> tuple[str, Finish, str | None]:
        from workbench.sim.roles import role_answer
        from workbench.sim.shapes import shaped_answer

        if self.tool_calls:
            return "", "tool_calls", None
        role = role_answer(self.prompt.messages, self.seed) if self.behaviour.plays_roles else None
        used = tool_result_answer(self.prompt.request) if self.prompt.request is not None else None
        if used is not None:
            full = used
        elif role is not None:
            full = role
        else:
            answer = shaped_answer if self.behaviour.markdown else _plain_answer
            full = answer(
                seed=self.seed,
                model=self.prompt.model,
                prompt_text=self.prompt.text,
                focus=self.prompt.focus,
                answer_tokens=self.behaviour.answer_tokens,
                encoding=self.encoding,
            )
        text, stop_seq = full, None
        finish: Finish = "stop"
        for seq in self.prompt.stop:
            at = text.find(seq) if seq else -1
            if at >= 0:
                text, finish, stop_seq = text[:at], "stop_sequence", seq
        limit = self.prompt.max_tokens
        # A server that ignores max_tokens (some compatible servers do) overruns it: only a stream meter stops it.
        if limit is not None and not self.behaviour.ignore_max_tokens:
            # Like reasoning models, hidden reasoning spends the same budget as the visible answer.
            budget = max(limit - self.behaviour.reasoning_tokens, 0)
            if count_text(text, self.encoding) > budget:
                text, finish, stop_seq = truncate_to_tokens(text, budget, self.encoding), "length", None
        return text, finish, stop_seq

    @property
    def text(self) -> str:
        return self._answer[0]

    @property
    def finish(self) -> Finish:
        return self._answer[1]

    @property
    def stop_sequence(self) -> str | None:
        return self._answer[2]

    @cached_property
    def deltas(self) -> tuple[tuple[str, int], ...]:
        return token_deltas(self.text, self.encoding)

    @cached_property
    def figures(self) -> Figures:
        request = self.prompt.request
        choice = request.tool_choice.mode if request is not None and request.tool_choice is not None else "auto"
        prompt_tokens = count_messages(
            self.prompt.messages,
            model=self.prompt.model,
            encoding=self.encoding,
            tools=self.prompt.tools,
            tool_choice=choice,
        )
        output = count_text(self.text, self.encoding) + sum(
            count_text(c.name, self.encoding) + count_text(c.arguments, self.encoding) for c in self.tool_calls
        )
        return figures_for(self.behaviour, prompt_tokens, output, count_text(self.thinking, self.encoding))

    @cached_property
    def thinking(self) -> str:
        """The reasoning shown before the answer (`show_thinking`), else "": a few words about the question."""
        if not self.behaviour.show_thinking:
            return ""
        words = self.prompt.focus.split()[:12]
        return f"The question is about: {' '.join(words)}. I will answer it plainly and check the facts first."

    @cached_property
    def thinking_deltas(self) -> tuple[tuple[str, int], ...]:
        return token_deltas(self.thinking, self.encoding) if self.thinking else ()

    async def prepare(self) -> None:
        """Work out the answer and the usage before responding; big prompts off the loop, so that counting a
        megabyte of prompt never holds up the other requests' streams."""
        if len(self.prompt.text) < 100_000:
            self._prepare_now()
        else:
            await asyncio.get_running_loop().run_in_executor(None, self._prepare_now)

    def _prepare_now(self) -> None:
        _ = self.tool_calls, self.deltas, self.figures

    def non_stream_delay(self) -> float:
        """Seconds a non-streamed answer takes: time to first token plus the paced output."""
        b = self.behaviour
        return b.ttft_ms / 1000 + self.figures.output / b.tokens_per_s


class Pacer:
    """Token pacing by sleep debt: sleeps only once the debt passes 2 ms, so huge rates cost no sleeps at all.

    Oversleeping leaves a negative debt that later tokens pay back, so the average rate stays right.
    """

    THRESHOLD_S = 0.002

    def __init__(self, tokens_per_s: float) -> None:
        self.per_token = 1.0 / tokens_per_s
        self.debt = 0.0

    def add(self, tokens: int) -> float:
        """Record tokens sent; return the seconds to sleep now (0 when under the threshold)."""
        self.debt += tokens * self.per_token
        return self.debt if self.debt > self.THRESHOLD_S else 0.0

    async def sleep(self, seconds: float) -> None:
        started = time.monotonic()
        await asyncio.sleep(seconds)
        self.debt -= time.monotonic() - started


def split_after(deltas: tuple[tuple[str, int], ...], tokens: int) -> int:
    """How many deltas make up the first `tokens` tokens (where a stream fault strikes)."""
    sent = 0
    for i, (_, n) in enumerate(deltas):
        if sent >= tokens:
            return i
        sent += n
    return len(deltas)


async def sleep_ms(ms: float) -> None:
    if ms > Pacer.THRESHOLD_S * 1000:
        await asyncio.sleep(ms / 1000)


class FrameWriter:
    """Buffers SSE frames and writes them in one go whenever the stream is about to wait (or ends).

    Frames still leave one per token whenever pacing sleeps between tokens; at very high rates they batch
    into few writes, which is what keeps the simulator's own overhead out of benchmarks.
    """

    def __init__(self, response: web.StreamResponse, pacer: Pacer) -> None:
        self.response = response
        self.pacer = pacer
        self._buffer: list[bytes] = []

    def add(self, frame: bytes) -> None:
        self._buffer.append(frame)

    async def flush(self) -> None:
        if self._buffer:
            data = b"".join(self._buffer)
            self._buffer.clear()
            await self.response.write(data)

    async def tokens_sent(self, tokens: int) -> None:
        wait = self.pacer.add(tokens)
        if wait:
            await self.flush()
            await self.pacer.sleep(wait)

    async def wait(self, ms: float) -> None:
        """A pause in the stream (time to first token): what was queued goes out first."""
        if ms > Pacer.THRESHOLD_S * 1000:
            await self.flush()
            await asyncio.sleep(ms / 1000)
