"""One attempt: a single call to one model, streamed, timed, metered and costed.

`run_attempt` is an async generator of events (`first_token`, `token`, and the closing `hop_finished`) that
also fills an `AttemptOutcome` for the step that called it. It is on the per-token hot path: no per-token
allocations beyond the event itself, timeouts armed with `asyncio.timeout_at` around the await only (never
around a `yield`, so a timer can never fire inside the consumer's code).

Usage rules (accounting truth):
- provider-reported usage wins; the local estimate is kept beside it (`estimated_*_tokens`);
- a successful stream without usage is estimated with the tokenizer and marked so — never silently $0;
- a call refused by the provider before generating (an HTTP error status, no token received) costs nothing;
- a call cut short after it was sent (timeout, user cancel, cost cap, dropped or broken stream) is costed for the
  prompt sent and the text received, marked estimated.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from os.path import commonprefix
from typing import Any, cast

from workbench.accounting.prices import Price
from workbench.accounting.usage import Cost, Usage, cost_of
from workbench.engine import lag
from workbench.engine.cancel import CancelToken
from workbench.engine.events import (
    ContentUnsupported,
    ErrorClass,
    Event,
    FirstToken,
    HopFinished,
    HopKind,
    HopStatus,
    Token,
    ToolCalled,
    now,
)
from workbench.providers.base import (
    Adapter,
    ChatRequest,
    Chunk,
    ProviderError,
    StreamEnd,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    UnsupportedContent,
    UsageReport,
)
from workbench.providers.content import FinishReason, ToolCall, ToolCallAssembler
from workbench.tokens import count_text


@dataclass(slots=True)
class AttemptPlan:
    run_id: str
    hop_id: str
    parent_id: str
    attempt: int
    alias: str
    provider: str
    model_id: str
    adapter: Adapter
    request: ChatRequest
    price: Price | None
    encoding: str
    est_input_tokens: int
    first_token_timeout: float
    idle_timeout: float
    total_timeout: float
    #: money left under the tightest cost cap (None: no cap applies)
    cap_remaining: Decimal | None = None
    cap_label: str = ""
    #: 0-based place of the target in the step's fallback chain (`attempt` is the try number on that target)
    target_index: int = 0
    role: str | None = None
    #: the target's key in `workbench.engine.health`; a half-open breaker's probe call; timeouts cut by a budget
    health_key: str = ""
    probe: bool = False
    budget_capped: bool = False
    #: the most wall time the latency budget leaves this attempt (None: no budget); a wait extended by the
    #: loop's lag never runs past it (see `_Watchdog`)
    wall_limit: float | None = None
    #: the run's totals; its `held` (the caller's time with our events) is kept out of `engine_ms`
    run_state: Any = None
    #: set by a hedge race before cancelling the loser: its hop ends `superseded`, not `cancelled`
    superseded: bool = False
    #: on_stream_failure=continue: text this continuation must not repeat, longest first (see `_Echo`): the text
    #: already kept, and its trailing whitespace when that was left out of the request (Anthropic refuses it)
    echo: tuple[str, ...] = ()
    #: the step's `unsupported_content: fail`: content of a kind the adapter does not know fails the attempt
    fail_unsupported: bool = False


@dataclass(slots=True)
class AttemptOutcome:
    status: HopStatus = HopStatus.OK
    text: str = ""
    usage: Usage = field(default_factory=Usage)
    cost: Cost = field(default_factory=lambda: Cost(total=Decimal(0)))
    error: ProviderError | None = None
    reason: str | None = None
    finish_reason: FinishReason | None = None
    #: the turn's tool calls, whole and checked (the step's answer text stays `text`)
    tool_calls: tuple[ToolCall, ...] = ()
    thinking_chars: int = 0  # reasoning the model showed (counted, never answer text)
    cap_tripped: bool = False
    first_at: float | None = None  # monotonic time of the first token (loop clock)
    repeated_chars: int = 0  # a continuation that began by repeating the kept text: how much was dropped
    repeat_diverged: bool = False  # ... whole lines of it, before going on differently (a restarted answer)


_price_json: dict[int, tuple[weakref.ref[Price], dict[str, Any]]] = {}


def price_dict(price: Price | None) -> dict[str, Any] | None:
    """The price entry as JSON data, computed once per entry (pydantic dumps are not free on the hot path).
    The entry holds its price weakly and goes when the price does (with its profile): no growth per reload."""
    if price is None:
        return None
    key = id(price)
    cached = _price_json.get(key)
    if cached is None or cached[0]() is not price:
        cached = (weakref.ref(price, lambda _: _price_json.pop(key, None)), price.model_dump(mode="json"))
        _price_json[key] = cached
    return dict(cached[1])


#: a wait the loop's lag left short of its timeout by less than this is not extended again (no timer churn)
EXTEND_MIN_S = 0.005

#: an attempt's hard stop in wall time, as a multiple of its total timeout: a wait is extended by the time this
#: process's event loop could not serve it, but never past this, however overloaded the client
HARD_STOP_FACTOR = 2.0


class _Watchdog:
    """One timer per attempt for the first-token, idle and total timeouts, each counted in the provider's time.

    A timeout is the provider's wait, not ours: the time this process's event loop was busy inside a wait (a
    blocking callback, a saturated loop; `lag.py` measures it) is subtracted from it, so a deadline reached in wall
    time is extended by that much when the provider's own wait is still under its limit (issue 20 item 16). Only
    lag *inside* the wait counts: the first-token window opens when the call starts, an idle window when the
    attempt starts waiting again after handing a token to its caller (the caller's time is not the provider's).
    No deadline ever fires before its limit in wall time. The extensions stop at `hard_stop` (twice the total
    timeout, or the latency budget's share); an attempt cut there while the provider's own waits were within their
    limits is `client_overloaded` (`overrun`), never charged to the provider.

    Arming `asyncio.timeout` around every chunk costs a timer handle per token; here the loop only moves
    `deadline` forward, and the single timer re-arms itself lazily when it wakes early. A deadline that moves
    *earlier* than the timer (first-token -> a shorter idle timeout) must re-arm at once (`tighten`); the caller
    checks `deadline < armed_at`, one float comparison per token. It cancels the task only while the attempt is
    awaiting the provider (`waiting`), never while the consumer runs its own code."""

    __slots__ = (
        "loop",
        "task",
        "deadline",
        "armed_at",
        "waiting",
        "expired",
        "fired",
        "handle",
        "monitor",
        "t0",
        "total",
        "total_at",
        "hard_stop",
        "window_from",
        "limit",
        "window",
        "which",
        "own",
        "lagged",
        "overrun",
        "budget_stop",
    )

    def __init__(
        self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any] | None, t0: float, plan: AttemptPlan
    ) -> None:
        self.loop, self.task, self.t0 = loop, task, t0
        self.monitor = lag.monitor(loop)
        self.total = plan.total_timeout
        self.total_at = t0 + plan.total_timeout
        if plan.budget_capped:  # the latency budget cut the total already: a wall deadline, never extended
            hard, self.budget_stop = plan.total_timeout, True
        else:
            hard, self.budget_stop = plan.total_timeout * HARD_STOP_FACTOR, False
            if plan.wall_limit is not None and plan.wall_limit < hard:  # the latency budget's share comes first
                hard, self.budget_stop = max(plan.wall_limit, plan.total_timeout), True
        self.hard_stop = t0 + hard
        # the open window: when it opened (None: the caller holds a token, no provider wait is open) and its limit
        self.window_from: float | None = t0
        self.limit, self.window = plan.first_token_timeout, "first token"
        self.which, self.own, self.lagged, self.overrun = "first token", 0.0, 0.0, False
        self.waiting = self.expired = self.fired = False
        self.deadline = min(t0 + plan.first_token_timeout, self.total_at)
        self.armed_at = self.deadline
        self.handle = loop.call_at(self.deadline, self._wake)

    def tighten(self) -> None:
        """Re-arm the timer for a deadline that moved earlier than the one it is armed for."""
        self.handle.cancel()
        self.armed_at = self.deadline
        self.handle = self.loop.call_at(self.deadline, self._wake)

    def _left(self, now: float) -> float:
        """The provider's own time left before the first of its limits runs out (the loop's lag not counted);
        records which limit that is, the provider's own wait in it and the lag taken out."""
        busy = self.monitor.busy_at if self.monitor is not None else None
        busy_now = busy(now) if busy is not None else 0.0
        lagged = busy_now - busy(self.t0) if busy is not None else 0.0
        own = now - self.t0 - lagged
        left, self.which, self.own, self.lagged = self.total - own, "total", own, lagged
        start = self.window_from
        if start is not None:
            lagged = busy_now - busy(start) if busy is not None else 0.0
            own = now - start - lagged
            if self.limit - own < left:
                left, self.own, self.lagged = self.limit - own, own, lagged
                self.which = self.window
        return left

    def _wake(self) -> None:
        now = self.loop.time()
        if now < self.deadline:
            self.armed_at = self.deadline
            self.handle = self.loop.call_at(self.deadline, self._wake)
            return
        left = self._left(now)
        if left > EXTEND_MIN_S:
            if now < self.hard_stop:  # the loop's lag ate into the wait: give the provider that time
                self.deadline = self.armed_at = min(now + left, self.hard_stop)
                self.handle = self.loop.call_at(self.deadline, self._wake)
                return
            self.overrun = True
        self.expired = True
        if self.waiting and self.task is not None and not self.task.done():
            self.fired = True
            self.task.cancel(msg="workbench attempt timeout")

    def absorb(self) -> bool:
        if self.fired:
            self.fired = False
            if self.task is not None:
                self.task.uncancel()
            return True
        return False

    def stop(self) -> None:
        self.handle.cancel()


def _timeout_error(plan: AttemptPlan, wd: _Watchdog) -> ProviderError:
    wall = wd.loop.time() - wd.t0
    if wd.overrun and wd.budget_stop:
        plan.budget_capped = True  # cut at the latency budget's wall deadline: settle treats it as out of time
    if wd.overrun and not plan.budget_capped:
        return ProviderError(
            ErrorClass.CLIENT_OVERLOADED,
            f"this process's event loop was busy {wd.lagged:.2f}s of the wait, so after {wall:.2f}s the provider had"
            f" waited only {wd.own:.2f}s of its own, within its {wd.which} timeout; the attempt reached its hard"
            " stop, and the missing data says nothing about the provider",
            provider=plan.provider,
            model=plan.model_id,
            retryable=True,
        )
    which = "total" if wd.overrun else wd.which
    limit = {"total": plan.total_timeout, "first token": plan.first_token_timeout, "idle": plan.idle_timeout}[which]
    what = "data" if which == "idle" else ("first token" if which == "first token" else "completion")
    note = f"; {wd.lagged:.2f}s this process's event loop was busy were not counted" if wd.lagged >= 0.05 else ""
    return ProviderError(
        ErrorClass.TIMEOUT,
        f"no {what} within {limit:g}s ({which} timeout{note})",
        provider=plan.provider,
        model=plan.model_id,
    )


class _Echo:
    """A continuation (on_stream_failure=continue) must not put text in the answer twice. Models asked to continue
    often restart instead, repeating the text already kept; and a continuation of a prefill sent without its
    trailing whitespace (Anthropic refuses a final assistant turn ending in whitespace) starts by writing that
    whitespace again. Its first characters are held back while they still match one of those `candidates`
    (longest first): a whole repeat is dropped (and counted), anything else is released as it came. Only a
    continuation pays for this; any other attempt never builds one."""

    __slots__ = ("candidates", "held", "dropped", "done", "diverged")

    def __init__(self, candidates: tuple[str, ...]) -> None:
        self.candidates, self.held, self.dropped, self.done = candidates, "", "", False
        self.diverged = False  # it restarted the answer, repeated whole lines of it, then wrote something else

    def feed(self, text: str) -> str:
        """The text to emit now: "" while it is held back; once the check is over (`done`) what follows it."""
        held = self.held + text
        for kept in self.candidates:
            if len(held) < len(kept) and kept.startswith(held):
                self.held = held
                return ""
        self.done, self.held = True, ""
        for kept in self.candidates:
            if held.startswith(kept):
                self.dropped = kept
                return held[len(kept) :]
        # Diverged. A model that restarts its answer and then words it differently repeats its opening lines (a
        # heading) before it diverges: whole lines of the kept text repeated are dropped, or the answer would
        # carry them twice (issue 20 item 24), and what follows starts a new paragraph. A match within one line
        # is a coincidence ("The ..."), released as it came.
        kept = self.candidates[0]
        same = len(commonprefix((held, kept)))
        cut = held.rfind("\n", 0, same) + 1
        if cut and held[:cut].strip():
            self.dropped, self.diverged = held[:cut], True
            breaks = len(kept) - len(kept.rstrip("\n"))
            return "\n" * max(2 - breaks, 0) + held[cut:]
        return held  # not a repeat, released as it came

    def end(self) -> None:
        """The stream ended while still matching: a repeat of part of a kept text, dropped."""
        if not self.done:
            self.dropped, self.held, self.done = self.held, "", True


async def run_attempt(plan: AttemptPlan, cancel: CancelToken, out: AttemptOutcome) -> AsyncIterator[Event]:
    loop = asyncio.get_running_loop()
    monotonic = time.monotonic  # the default loop's clock (loop.time()), without the method call per token
    task = asyncio.current_task()
    started_ts = now()
    t0 = loop.time()
    deadline_total = t0 + plan.total_timeout
    watchdog = _Watchdog(loop, task, t0, plan)
    idle = plan.idle_timeout
    holding = False  # a token was handed to the caller: the next wait opens an idle window
    first_at: float | None = None
    first_ts: float | None = None
    parts: list[str] = []
    echo = checker = _Echo(plan.echo) if plan.echo else None
    reported: Usage | None = None
    reported_final = False
    calls: ToolCallAssembler | None = None  # made on the first tool-call fragment: a text answer pays nothing
    thinking: list[str] = []
    other_out = 0  # tokens of tool-call fragments and thinking, for the cap meter
    metering = plan.cap_remaining is not None and plan.price is not None and not plan.price.is_free
    metered_out = 0
    waited = 0.0  # seconds spent awaiting the adapter: the network, the provider, and parsing its bytes
    state = plan.run_state
    held_before = state.held if state is not None else 0.0
    run_id, hop_id = plan.run_id, plan.hop_id
    # every adapter's `stream` is an async generator (the base class promises only an iterator): closed below
    stream = cast("AsyncGenerator[Chunk, None]", plan.adapter.stream(plan.request).__aiter__())
    anext = stream.__anext__
    try:
        while True:
            if cancel._cancelled:
                out.status, out.reason = HopStatus.CANCELLED, cancel.reason
                break
            if watchdog.expired:
                raise _timeout_error(plan, watchdog)
            try:
                cancel._waiting_task = task
                waited_from = monotonic()
                if holding:  # the provider's idle time starts now, not while the caller had the token
                    holding = False
                    watchdog.window_from, watchdog.limit, watchdog.window = waited_from, idle, "idle"
                    t = waited_from + idle
                    watchdog.deadline = t if t < deadline_total else deadline_total
                    if watchdog.deadline < watchdog.armed_at:
                        watchdog.tighten()  # the idle deadline is shorter than the one armed
                watchdog.waiting = True
                try:
                    chunk = await anext()
                finally:
                    t = monotonic()
                    waited += t - waited_from
                    watchdog.waiting = False
                    cancel._waiting_task = None
            except StopAsyncIteration:
                break
            except asyncio.CancelledError:
                if watchdog.absorb():
                    raise _timeout_error(plan, watchdog) from None
                if cancel.absorb():
                    out.status, out.reason = HopStatus.CANCELLED, cancel.reason
                    break
                raise
            # `type(chunk) is C` (not isinstance: exact types, one call) also narrows `chunk` for the type checker
            if type(chunk) is TextDelta:
                if first_at is None:
                    first_at, first_ts = t, now()
                    yield FirstToken(run_id=run_id, hop_id=hop_id, ttft_ms=(t - t0) * 1000.0)
                piece = chunk.text
                if echo is not None:
                    piece = echo.feed(piece)
                    if echo.done:
                        echo = None
                holding, watchdog.window_from = True, None
                if piece:
                    parts.append(piece)
                    yield Token(run_id=run_id, hop_id=hop_id, text=piece)
                if metering:
                    metered_out += count_text(chunk.text, plan.encoding)
                    so_far = cost_of(
                        Usage(input_tokens=plan.est_input_tokens, output_tokens=metered_out + other_out), plan.price
                    )
                    # `metering` holds only with a cap: cap_remaining is not None here (no per-token assert)
                    if so_far.total > plan.cap_remaining:  # type: ignore[operator]
                        out.status, out.cap_tripped = HopStatus.CANCELLED, True
                        out.reason = (
                            f"{plan.cap_label} tripped mid-stream: ${so_far.total:.6f} spent of "
                            f"${plan.cap_remaining:.6f} left; stream cancelled"
                        )
                        break
            elif type(chunk) is UsageReport:
                reported, reported_final = chunk.usage, chunk.final
            elif type(chunk) is StreamEnd:
                out.finish_reason = chunk.finish_reason
            elif type(chunk) is ToolCallDelta or type(chunk) is ThinkingDelta:
                # content that is not answer text still is output: it starts the stream (first token) and spends
                # the budget the cap meters
                if first_at is None:
                    first_at, first_ts = t, now()
                    yield FirstToken(run_id=run_id, hop_id=hop_id, ttft_ms=(t - t0) * 1000.0)
                    holding, watchdog.window_from = True, None
                if isinstance(chunk, ToolCallDelta):
                    if calls is None:
                        calls = ToolCallAssembler()
                    calls.add(chunk.index, chunk.id, chunk.name, chunk.arguments)
                    piece = f"{chunk.name or ''}{chunk.arguments}"
                else:
                    thinking.append(chunk.text)
                    piece = chunk.text
                if metering and piece:
                    other_out += count_text(piece, plan.encoding)
                    so_far = cost_of(
                        Usage(input_tokens=plan.est_input_tokens, output_tokens=metered_out + other_out), plan.price
                    )
                    if so_far.total > plan.cap_remaining:  # type: ignore[operator]  # as for text above
                        out.status, out.cap_tripped = HopStatus.CANCELLED, True
                        out.reason = (
                            f"{plan.cap_label} tripped mid-stream: ${so_far.total:.6f} spent of "
                            f"${plan.cap_remaining:.6f} left; stream cancelled"
                        )
                        break
            elif type(chunk) is UnsupportedContent:
                yield ContentUnsupported(run_id=run_id, hop_id=hop_id, content_kind=chunk.kind, detail=chunk.detail)
                if plan.fail_unsupported:  # the step's policy: an answer with content it cannot read is no answer
                    raise ProviderError(
                        ErrorClass.MALFORMED,
                        f"content of a kind not understood ({chunk.kind}), and the step's unsupported_content is"
                        " 'fail'",
                        provider=plan.provider,
                        model=plan.model_id,
                    )
    except ProviderError as err:
        out.status = (
            HopStatus.TIMEOUT if err.kind in (ErrorClass.TIMEOUT, ErrorClass.CLIENT_OVERLOADED) else HopStatus.ERROR
        )
        out.error = err
    except Exception as exc:  # noqa: BLE001 - an adapter bug must still close the hop (and so the run)
        out.status = HopStatus.ERROR
        out.error = ProviderError(
            ErrorClass.MALFORMED,
            f"the adapter failed unexpectedly ({type(exc).__name__}: {str(exc)[:200]})",
            provider=plan.provider,
            model=plan.model_id,
        )
    finally:
        watchdog.stop()
        await stream.aclose()

    if out.status == "cancelled" and plan.superseded:
        out.status, out.reason = HopStatus.SUPERSEDED, "superseded: a hedged attempt streamed first"
    text = "".join(parts)
    out.text = text
    est_out = count_text(text, plan.encoding)
    # what the model wrote besides the answer is output it was paid for: tool calls in the visible bucket (the
    # providers bill them as output), shown reasoning in the reasoning bucket
    est_reasoning = count_text("".join(thinking), plan.encoding) if thinking else 0
    out.thinking_chars = sum(map(len, thinking))
    if calls is not None:
        whole = calls.calls(check=False)
        est_out += sum(count_text(c.name, plan.encoding) + count_text(c.arguments, plan.encoding) for c in whole)
        if out.status == HopStatus.OK:
            out.tool_calls = whole  # (the adapter checked their arguments: a bad one failed the attempt)
    if checker is not None:
        checker.end()
        if checker.dropped:  # the repeat was received (and is paid for) but is not part of the answer
            out.repeated_chars = len(checker.dropped)
            out.repeat_diverged = checker.diverged
            est_out += count_text(checker.dropped, plan.encoding)
    billed, unbilled_why = True, ""
    if reported is not None and out.status == "ok" and reported_final:
        usage = reported
        usage.estimated_input_tokens = plan.est_input_tokens
        usage.estimated_output_tokens = est_out
    else:
        error = out.error
        if error is not None and first_at is None and error.status is not None and error.status >= 400:
            billed = False  # the provider refused the request before generating: no charge
            unbilled_why = "refused by the provider before generating; not billed"
        elif error is not None and not error.sent:
            billed = False  # the request never reached the provider (could not connect): nothing to charge
            unbilled_why = "the request never reached the provider; not billed"
        if billed and reported is not None and reported.input_source == "reported":
            # The provider told us the prompt side before the stream ended early (Anthropic's message_start):
            # keep those exact buckets (cache reads and writes included); only the output is estimated.
            usage = Usage(
                input_tokens=reported.input_tokens,
                cache_read_tokens=reported.cache_read_tokens,
                cache_write_5m_tokens=reported.cache_write_5m_tokens,
                cache_write_1h_tokens=reported.cache_write_1h_tokens,
                output_tokens=est_out,
                reasoning_tokens=est_reasoning,
                input_source="reported",
                output_source="estimated",
                estimated_input_tokens=plan.est_input_tokens,
                estimated_output_tokens=est_out,
            )
        else:
            usage = Usage(
                input_tokens=plan.est_input_tokens if billed else 0,
                output_tokens=est_out if billed else 0,
                reasoning_tokens=est_reasoning if billed else 0,
                estimated_input_tokens=plan.est_input_tokens,
                estimated_output_tokens=est_out,
            )
        if out.status == "ok" and out.reason is None:
            out.reason = "provider reported no usage; estimated with the tokenizer"
        elif not billed and out.reason is None:
            out.reason = unbilled_why
    out.usage = usage
    out.cost = cost_of(usage, plan.price)
    wall = loop.time() - t0
    latency_ms = wall * 1000.0
    # The engine's own time in this attempt: its wall time less the wait for the provider's bytes and less the
    # caller's time with the events this attempt yielded — when the caller holding an event suspended this attempt,
    # i.e. it runs in the task the run's events are pulled from. An attempt in a task of its own (a hedge racer, a
    # parallel branch) hands its events to a queue and goes on: the caller's time overlaps its waits and is not
    # subtracted (it used to be, twice over, leaving 0.0: issue 20 item 24).
    inline = state is not None and (state.task is None or state.task is task)
    held = (state.held - held_before) if inline else 0.0
    engine_ms = max(0.0, wall - waited - held) * 1000.0
    out.first_at = first_at
    error = out.error
    for index, call in enumerate(out.tool_calls):
        yield ToolCalled(
            run_id=run_id, hop_id=hop_id, index=index, call_id=call.id, name=call.name, arguments=call.arguments
        )
    yield HopFinished(
        run_id=run_id,
        hop_id=hop_id,
        parent_id=plan.parent_id,
        kind=HopKind.ATTEMPT,
        name=plan.alias,
        provider=plan.provider,
        model=plan.alias,
        model_id=plan.model_id,
        attempt=plan.attempt,
        target_index=plan.target_index,
        role=plan.role,
        status=out.status,
        latency_ms=latency_ms,
        ttft_ms=None if first_at is None else (first_at - t0) * 1000.0,
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.completion_tokens,
        cost_usd=out.cost.total,
        error=None if error is None else str(error),
        error_class=None if error is None else error.kind,
        retryable=None if error is None else error.retryable,
        retry_after_s=None if error is None else error.retry_after_s,
        reason=out.reason,
        usage=usage.to_dict(),
        cost=out.cost.to_dict(),
        price=price_dict(plan.price),
        started_ts=started_ts,
        first_token_ts=first_ts,
        output=text,
        data=(
            ({"repeated_chars": out.repeated_chars} | ({"diverged": True} if out.repeat_diverged else {}))
            if out.repeated_chars
            else None
        ),
        engine_ms=engine_ms,
        finish_reason=out.finish_reason,
    )
