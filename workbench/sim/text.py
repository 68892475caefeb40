"""The simulator's answers: readable English that responds to the prompt, and its split into streamed deltas.

An answer picks content words from the last user message and weaves them into sentence templates, choosing
templates and words with a `random.Random` seeded from (seed, model, SHA-256 of the prompt text). It grows
sentence by sentence and ends on a sentence boundary near the wanted token count, so the same request always
gets the same answer and different prompts get visibly different ones. Deltas are single tokenizer tokens,
grouped only where a token ends inside a multi-byte character, so the deltas join back to the exact answer.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from functools import lru_cache

from workbench.tokens import count_text, get_encoding

__all__ = ["Answer", "make_answer", "truncate_to_tokens", "token_deltas", "content_words"]

_WORD = re.compile(r"[^\W\d_][\w'-]*[^\W_]|[^\W\d_]{3,}", re.UNICODE)

_STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each either else few for from further get gets
    give given had has have having he her here hers herself him himself his how however i if in into is it its
    itself just let like make me might more most much must my myself need no nor not now of off on once only or
    other ought our ours ourselves out over own please same shall she should so some such tell than that the
    their theirs them themselves then there these they thing things this those through to too under until up
    upon us use used using very want was we were what when where which while who whom why will with within
    without would yes yet you your yours yourself yourselves explain describe write show briefly short answer
    question one two three way ways really thanks thank hello hi hey ok okay kind sort best better good new
    tune build create implement compare improve fix find work works run learn understand know think help start
    choose pick set handle avoid keep read go going see look make makes say says many every something anything
    onto into across toward towards via per among around behind beyond near since though whether
    late early quick simple easy hard big small large long tips tip lot lots
    des les sur une pour avec dans est der die das und""".split()
)

# Used when the prompt holds no content words (empty, digits only, all stop words).
_FALLBACK_TOPICS = ("the question", "the request", "this topic", "the details", "the context", "the goal")

_OPENERS = (
    "Here is a short answer about {a}.",
    "Good question about {a}.",
    "Let me walk through {a} step by step.",
    "The key to {a} is {b}.",
    "Thinking about {a}, a few points stand out.",
)

_BODY = (
    "The short version is that {a} depends mostly on {b}.",
    "Looking at {a}, the first thing to check is how it relates to {b}.",
    "In practice, {a} works best when {b} is kept simple.",
    "A common mistake with {a} is to ignore {b} until late.",
    "It helps to think of {a} as a trade-off between {b} and {c}.",
    "If {a} matters most, start with {b} and measure the result.",
    "Most teams handle {a} by writing down what {b} should do.",
    "That is why {a} and {b} usually come up together.",
    "One more point: {a} tends to change once {b} grows.",
    "A small experiment with {b} often tells you more about {a} than a long plan.",
    "When {a} goes wrong, the cause is usually {b} rather than {c}.",
    "Keep an eye on {b}, because it shapes how {a} behaves over time.",
    "The evidence on {a} is clearer for {b} than for {c}.",
    "Compared with {c}, {b} gives {a} a steadier footing.",
)

_CLOSERS = (
    "To sum up, {a} is manageable if {b} gets attention early.",
    "In short, look at {b} first and {a} gets easier.",
    "That covers the main points about {a}.",
    "Overall, {a} rewards patience and a clear view of {b}.",
)


@dataclass(frozen=True)
class Answer:
    text: str
    tokens: int  # count_text(text, encoding): what the usage reports as visible output


def content_words(text: str, limit: int = 12) -> list[str]:
    """The prompt's distinctive words without stop words: the most frequent first, ties in order of appearance."""
    counts: dict[str, int] = {}
    shown: dict[str, str] = {}
    # Scanning a 1 MB prompt whole is wasteful: the head and the tail say what is asked.
    sample = text if len(text) <= 20_000 else text[:10_000] + " " + text[-10_000:]
    for match in _WORD.finditer(sample):
        raw = match.group(0).strip("'-")
        low = raw.lower()
        if len(low) < 3 or low in _STOPWORDS:
            continue
        if low not in counts:
            shown[low] = raw if _keeps_case(raw, sample, match.start()) else low
        counts[low] = counts.get(low, 0) + 1
    ranked = sorted(counts, key=lambda w: -counts[w])  # stable: equal counts keep their first appearance
    return [shown[w] for w in ranked[:limit]]


def _keeps_case(word: str, text: str, pos: int) -> bool:
    """Acronyms, CamelCase and names stay as written; a capital that only starts a sentence does not."""
    if word.isupper() or any(ch.isupper() for ch in word[1:]):
        return True
    if not word[:1].isupper():
        return False
    before = text[:pos].rstrip()
    return bool(before) and before[-1] not in ".!?:\"'"


def _capitalize(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


class _Topics:
    """Hands out the prompt's words in rotation, so an answer covers as many of them as its length allows."""

    def __init__(self, words: list[str], rng: random.Random) -> None:
        self.words = words
        self.rng = rng
        self.queue: list[str] = list(words)

    def take(self, n: int, first: str | None = None) -> list[str]:
        picks: list[str] = [first] if first else []
        while len(picks) < n:
            if not self.queue:
                self.queue = list(self.words)
                self.rng.shuffle(self.queue)
            word = self.queue.pop(0)
            if word not in picks:
                picks.append(word)
            elif len(self.words) < n:  # too few words of its own: lend generic ones
                picks.append(next(t for t in _FALLBACK_TOPICS if t not in picks))
        return picks


def _fill(template: str, topics: _Topics, first: str | None = None) -> str:
    slots = [slot for slot in "abc" if "{" + slot + "}" in template]  # take only words the template shows
    return _capitalize(template.format(**dict(zip(slots, topics.take(len(slots), first), strict=False))))


@lru_cache(maxsize=512)
def _cached_answer(seed_key: str, focus: str, answer_tokens: int, encoding: str) -> Answer:
    rng = random.Random(seed_key)
    words = content_words(focus) or list(_FALLBACK_TOPICS[:3])
    topics = _Topics(words, rng)
    # Lead with the prompt's first words so the answer visibly responds to it; the rest mixes in.
    sentences = [_fill(rng.choice(_OPENERS), topics)]
    lengths = [count_text(sentences[0], encoding)]
    body = list(_BODY)
    rng.shuffle(body)
    while sum(lengths) < answer_tokens:
        template = body[len(sentences) % len(body)] if len(sentences) < len(body) else rng.choice(body)
        sentence = _fill(template, topics)
        sep = "\n\n" if len(sentences) % 4 == 0 else " "
        sentences.append(sep + sentence)
        lengths.append(count_text(sep + sentence, encoding))
    # End on whichever sentence boundary lies nearer the target (never below one sentence).
    if len(sentences) > 1 and abs(sum(lengths[:-1]) - answer_tokens) < abs(sum(lengths) - answer_tokens):
        sentences.pop()
    if answer_tokens >= 30 and len(sentences) > 2:
        # Swap the last sentence for a closer of the same topics, keeping the boundary near the target.
        sep = sentences[-1][: len(sentences[-1]) - len(sentences[-1].lstrip())]
        sentences[-1] = sep + _fill(rng.choice(_CLOSERS), topics, first=words[0])
    text = "".join(sentences)
    if count_text(text, encoding) > answer_tokens * 2 + 4:
        # A target shorter than any sentence: cut at a word that fits and end the sentence there.
        text = _cut_words(text, answer_tokens, encoding)
    return Answer(text=text, tokens=count_text(text, encoding))


def _cut_words(text: str, answer_tokens: int, encoding: str) -> str:
    words = text.split(" ")
    out = words[0]
    for word in words[1:]:
        if count_text(out + " " + word + ".", encoding) > answer_tokens:
            break
        out += " " + word
    out = out.rstrip(".,:;")
    return out + "." if count_text(out + ".", encoding) <= max(answer_tokens, 1) or len(words) == 1 else out


def make_answer(*, seed: int, model: str, prompt_text: str, focus: str, answer_tokens: int, encoding: str) -> Answer:
    """The answer for a request: deterministic in (seed, model, prompt_text); words drawn from `focus`."""
    digest = hashlib.sha256(prompt_text.encode("utf-8", "surrogatepass")).hexdigest()
    return _cached_answer(f"{seed}|{model}|{digest}", focus[-20_000:], answer_tokens, encoding)


def truncate_to_tokens(text: str, limit: int, encoding: str) -> str:
    """The longest token prefix of `text` that decodes cleanly and counts at most `limit` tokens."""
    enc = get_encoding(encoding)
    tokens = enc.encode(text, disallowed_special=())
    if len(tokens) <= limit:
        return text
    cut = max(limit, 0)
    while cut > 0:
        try:
            prefix = enc.decode_bytes(tokens[:cut]).decode("utf-8")
        except UnicodeDecodeError:  # ends inside a multi-byte character
            cut -= 1
            continue
        if count_text(prefix, encoding) <= limit:  # re-tokenizing a prefix can, rarely, merge differently
            return prefix
        cut -= 1
    return ""


@lru_cache(maxsize=512)
def token_deltas(text: str, encoding: str) -> tuple[tuple[str, int], ...]:
    """(delta text, tokens in it) per streamed chunk: one token each, except tokens that split a character."""
    enc = get_encoding(encoding)
    out: list[tuple[str, int]] = []
    pending = b""
    count = 0
    for token in enc.encode(text, disallowed_special=()):
        pending += enc.decode_single_token_bytes(token)
        count += 1
        try:
            piece = pending.decode("utf-8")
        except UnicodeDecodeError:
            continue
        out.append((piece, count))
        pending, count = b"", 0
    if pending:  # cannot happen for text that came from a str, but never lose bytes
        out.append((pending.decode("utf-8", "replace"), count))
    return tuple(out)
