"""The SSE decoder against the WHATWG event-stream rules, including every chunk boundary."""

from __future__ import annotations

import random

from workbench.providers.sse import SSEDecoder, SSEEvent, aiter_sse


def feed_all(*chunks: bytes) -> list[SSEEvent]:
    decoder = SSEDecoder()
    out: list[SSEEvent] = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    return out


def every_split(stream: bytes) -> list[list[SSEEvent]]:
    """The events for every way of cutting `stream` in two, and for byte-at-a-time feeding."""
    results = [feed_all(stream[:i], stream[i:]) for i in range(len(stream) + 1)]
    results.append(feed_all(*(stream[i : i + 1] for i in range(len(stream)))))
    return results


def test_single_event_lf() -> None:
    assert feed_all(b"data: hello\n\n") == [SSEEvent("message", "hello", None, None)]


def test_crlf_and_cr_line_endings_give_the_same_events() -> None:
    lf = feed_all(b"event: a\ndata: 1\n\ndata: 2\n\n")
    assert feed_all(b"event: a\r\ndata: 1\r\n\r\ndata: 2\r\n\r\n") == lf
    assert feed_all(b"event: a\rdata: 1\r\rdata: 2\r\r") == lf
    assert feed_all(b"event: a\r\ndata: 1\r\rdata: 2\n\r\n") == lf
    assert [e.event for e in lf] == ["a", "message"]


def test_crlf_split_across_chunks_is_one_line_ending() -> None:
    stream = b"data: x\r\n\r\ndata: y\r\n\r\n"
    for events in every_split(stream):
        assert [e.data for e in events] == ["x", "y"]


def test_cr_at_chunk_end_dispatches_without_waiting_for_more() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\r") == []
    assert [e.data for e in decoder.feed(b"\r")] == ["x"]  # CR CR: line end + blank line, no further byte needed
    assert [e.data for e in decoder.feed(b"\ndata: y\n\n")] == ["y"]  # a LF after CR CR is a blank line: no-op


def test_multiline_data_joined_with_newline() -> None:
    events = feed_all(b"data: a\ndata: b\ndata:\ndata: c\n\n")
    assert events[0].data == "a\nb\n\nc"


def test_comments_and_unknown_fields_ignored() -> None:
    events = feed_all(b": keep-alive\n\n:another\ndata: x\nfoo: bar\n: mid comment\n\n")
    assert events == [SSEEvent("message", "x", None, None)]


def test_field_without_colon_has_empty_value() -> None:
    events = feed_all(b"data\n\n")
    assert events == [SSEEvent("message", "", None, None)]
    # `event` alone sets an empty type, which means the default
    assert feed_all(b"event\ndata: z\n\n")[0].event == "message"


def test_only_one_space_after_colon_is_dropped() -> None:
    assert feed_all(b"data:x\n\n")[0].data == "x"
    assert feed_all(b"data:  x\n\n")[0].data == " x"
    assert feed_all(b"data: \n\n")[0].data == ""
    assert feed_all(b"data:\tx\n\n")[0].data == "\tx"


def test_event_type_resets_after_dispatch() -> None:
    events = feed_all(b"event: content_block_delta\ndata: 1\n\ndata: 2\n\n")
    assert [e.event for e in events] == ["content_block_delta", "message"]


def test_event_without_data_is_not_dispatched_and_its_type_is_dropped() -> None:
    assert feed_all(b"event: ping\n\n") == []
    assert feed_all(b"event: ping\n\ndata: x\n\n") == [SSEEvent("message", "x", None, None)]


def test_id_persists_and_null_id_is_ignored() -> None:
    events = feed_all(b"id: 7\ndata: a\n\ndata: b\n\nid: 8\x00\ndata: c\n\nid\ndata: d\n\n")
    assert [e.id for e in events] == ["7", "7", "7", ""]


def test_retry_taken_only_when_all_digits() -> None:
    events = feed_all(b"retry: 1500\ndata: a\n\nretry: 2s\ndata: b\n\nretry: \xd9\xa3\ndata: c\n\n")
    assert [e.retry for e in events] == [1500, 1500, 1500]


def test_final_event_without_blank_line_is_not_dispatched() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: complete\n\ndata: partial") == [SSEEvent("message", "complete", None, None)]
    assert decoder.in_event
    decoder2 = SSEDecoder()
    assert decoder2.feed(b"data: one line but no blank\n") == []
    assert decoder2.in_event


def test_decoder_is_idle_between_events() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: x\n\n")
    assert not decoder.in_event


def test_bom_is_stripped_even_when_split() -> None:
    stream = b"\xef\xbb\xbfdata: x\n\n"
    for events in every_split(stream):
        assert events == [SSEEvent("message", "x", None, None)]
    # only a leading BOM: later ones are data
    assert feed_all(b"data: \xef\xbb\xbfx\n\n")[0].data == "\ufeffx"


def test_multibyte_utf8_split_across_chunks() -> None:
    stream = "data: héllo → 世界 🎉\n\n".encode()
    for events in every_split(stream):
        assert [e.data for e in events] == ["héllo → 世界 🎉"]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert feed_all(b"data: \xff\xfe\n\n")[0].data == "\ufffd\ufffd"


def test_empty_chunks_do_not_break_a_split_crlf() -> None:
    assert [e.data for e in feed_all(b"data: x\r", b"", b"\n", b"", b"\r\n")] == ["x"]


def test_random_chunking_matches_whole_stream() -> None:
    stream = (
        b': hi\r\nevent: message_start\r\ndata: {"a": 1}\r\n\r\n'
        b"data: line1\ndata: line2\n\nid: 42\rdata: \xe4\xb8\x96\r\r"
        b"retry: 10\ndata\n\nevent: x\ndata: [DONE]\n\n"
    )
    whole = feed_all(stream)
    assert len(whole) == 5
    rng = random.Random(1)
    for _ in range(300):
        cuts = sorted(rng.sample(range(1, len(stream)), rng.randint(1, 12)))
        pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=False)]
        assert feed_all(*pieces) == whole


async def test_aiter_sse_over_async_bytes() -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for piece in (b"data: a\n", b"\ndata: b\r\n\r", b"\ndata: trailing"):
            yield piece

    events = [event async for event in aiter_sse(chunks())]
    assert [e.data for e in events] == ["a", "b"]
