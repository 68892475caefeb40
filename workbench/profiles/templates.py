"""Prompt templates over the run context, rendered with Jinja2's sandbox and strict undefined names.

The names a template may use: `input` (the request text, or the previous step's output for a `generate` step
whose prompt is not set), `history` (earlier turns, a list of {role, content}), `docs` (retrieved documents, a
list of {id, title, text, score}), `steps` (each earlier step's result by name: `steps.classify.label`,
`steps.answer.output`), `metadata` (the request's key=value pairs) and `feedback` (a gate's reasons on a retry).

`check_template` runs at profile load: a syntax error, an unknown top-level name, or `steps.X` naming no step of
the route is a profile problem with the file's line — never a crash mid-run. `template_warnings` names what no
run can provide (`steps.x.outptu`, a step that only runs later, `input.foo`): `profile check` prints them.
`render` is what the engine calls; whatever goes wrong in it (an undefined name, a bad filter, a division by zero,
an unsafe attribute, a limit) is a `TemplateError` with one line of words, never another exception.

Rendering runs on the engine's event loop, so its work is bounded (issue 20 item 4): a render may do at most
`MAX_OPS` operations (loop iterations, calls, lookups, filters; a `range` costs its length), produce at most
`MAX_TEXT` characters (output, and any string or list it builds), and run at most `MAX_SECONDS`. Operations whose
result would be huge are refused before they run (`"x" * 10**9`, `2 ** 10**9`, `"%999999999s"`, `center(10**9)`).
`lipsum` is not offered (it generates text without bound). A hostile template ends its step with a classified
error in about a second at most, and Ctrl-C is honoured right after.
"""

from __future__ import annotations

import difflib
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

CONTEXT_NAMES: frozenset[str] = frozenset({"input", "history", "docs", "steps", "metadata", "feedback"})

#: operations one render may do (each loop iteration, call, attribute or item lookup, filter, output piece; a
#: `range(n)` costs n): a prompt over hundreds of documents or turns needs a few thousand
MAX_OPS = 1_000_000
#: characters of output, and the size of any string, list or number text a render builds (about 1M tokens,
#: beyond every model's context window)
MAX_TEXT = 4_000_000
#: wall-clock seconds one render may run (a backstop for work the counts above do not see)
MAX_SECONDS = 2.0
#: a result bigger than this many bits is refused before it is computed (`2 ** 10**9`)
MAX_INT_BITS = 100_000


class TemplateError(Exception):
    """A template failed at render time. `str(exc)` is one line: what went wrong and on which template line."""

    def __init__(self, what: str, line: int | None = None, field: str = "template") -> None:
        self.what, self.line, self.field = what, line, field
        where = f" on its line {line}" if line is not None else ""
        super().__init__(f"{field} failed{where}: {what}")


class _Limit(Exception):
    """Raised inside a render when a bound is passed (becomes a TemplateError)."""


class _Budget:
    __slots__ = ("ops", "text", "deadline", "names")

    def __init__(self, names: Mapping[str, Any]) -> None:
        self.ops = MAX_OPS
        self.text = MAX_TEXT
        self.deadline = time.monotonic() + MAX_SECONDS
        self.names = {id(v): k for k, v in names.items() if isinstance(v, (dict, list))}

    def tick(self, n: int = 1) -> None:
        self.ops -= n
        if self.ops < 0:
            raise _Limit(
                f"it did more than {MAX_OPS:,} operations (loop iterations, calls, lookups); a template is bounded"
                " so that a run stays responsive"
            )
        if (n > 1 or (self.ops & 0x3FF) == 0) and time.monotonic() > self.deadline:
            raise _Limit(f"it ran longer than {MAX_SECONDS:g} s; a template is bounded so that a run stays responsive")

    def output(self, size: int) -> None:
        self.text -= size
        if self.text < 0:
            raise _Limit(f"its output passed {MAX_TEXT:,} characters")


_BUDGET: ContextVar[_Budget | None] = ContextVar("workbench_template_budget", default=None)


def _tick(n: int = 1) -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.tick(n)


def _sized(value: Any) -> Any:
    """`value`, refused when it is a string or container bigger than MAX_TEXT."""
    if isinstance(value, (str, bytes, list, tuple, dict, set, frozenset)) and len(value) > MAX_TEXT:
        raise _Limit(f"it built a value of {len(value):,} items or characters (at most {MAX_TEXT:,})")
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise _Limit(f"it built a number of {value.bit_length():,} bits (at most {MAX_INT_BITS:,})")
    return value


def _refuse_size(size: int, what: str) -> None:
    if size > MAX_TEXT:
        raise _Limit(f"{what} would build {size:,} items or characters (at most {MAX_TEXT:,})")


# the width/precision of a %-conversion, and the spec after `:` in a str.format field
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\d*)(?:\.(\d*))?[diouxXeEfFgGcrsa]")
_FORMAT_SPEC = re.compile(r"\{[^{}]*:([^{}]*)\}")
_DIGITS = re.compile(r"\d+")
_NESTED_SPEC = re.compile(r"\{[^{}]*:[^{}]*\{")


def _check_format_spec(text: Any, style: str = "%") -> None:
    """A format string asking for a field wider than MAX_TEXT is refused before it runs (`%999999999s`,
    `{:>999999999}`); digits elsewhere in the text are only text."""
    if not isinstance(text, str):
        return
    if style == "%":
        numbers = [n for m in _PERCENT_SPEC.finditer(text) for n in m.groups() if n]
    else:
        numbers = [n for m in _FORMAT_SPEC.finditer(text) for n in _DIGITS.findall(m.group(1))]
    for n in numbers:
        if len(n) > 7 and int(n) > MAX_TEXT:
            raise _Limit(f"a format asks for a field {int(n):,} characters wide (at most {MAX_TEXT:,})")


def _check_int_args(what: str, args: Iterable[Any]) -> None:
    for arg in args:
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_TEXT:
            raise _Limit(f"{what} was given {arg:,} (at most {MAX_TEXT:,})")


def _length(value: Any) -> int:
    try:
        return len(value)
    except TypeError:
        return 0


def _check_binop(op: str, left: Any, right: Any) -> None:
    if op == "*":
        for seq, n in ((left, right), (right, left)):
            if isinstance(n, int) and not isinstance(n, bool) and isinstance(seq, (str, bytes, list, tuple)):
                _refuse_size(len(seq) * max(n, 0), "a repetition")
        if isinstance(left, int) and isinstance(right, int):
            if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise _Limit(f"a product of more than {MAX_INT_BITS:,} bits")
    elif op == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            if left.bit_length() * right > MAX_INT_BITS:
                raise _Limit(f"a power of more than {MAX_INT_BITS:,} bits")
    elif op == "%" and isinstance(left, str):
        _check_format_spec(left)
        if "*" in left:  # `%*s`: the width comes from the arguments
            _check_int_args("a % format", right if isinstance(right, tuple) else (right,))
    elif op == "+":
        if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
            _refuse_size(len(left) + len(right), "a concatenation")


def _replace_size(text: str, old: Any, new: Any, count: Any) -> int:
    old, new = str(old), str(new)
    n = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        n = min(n, count)
    return len(text) + n * max(len(new) - len(old), 0)


def _check_method(owner: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """A method of a str/list/dict called from a template: refuse what would build a huge value."""
    if name in ("center", "ljust", "rjust", "zfill", "expandtabs"):
        _check_int_args(f"{type(owner).__name__}.{name}()", (*args, *kwargs.values()))
    if name in ("format", "format_map"):
        _check_format_spec(owner, "{}")
        if isinstance(owner, str) and _NESTED_SPEC.search(owner):  # `{0:{1}}`: the width comes from the arguments
            _check_int_args(f"str.{name}()", (*args, *kwargs.values()))
    elif name == "replace" and isinstance(owner, str) and len(args) >= 2:
        _refuse_size(_replace_size(owner, args[0], args[1], args[2] if len(args) > 2 else -1), "a replace")
    elif name == "join" and isinstance(owner, str) and args:
        _refuse_size(len(owner) * _length(args[0]), "a join")
    elif name == "expandtabs" and isinstance(owner, str):
        size = args[0] if args and isinstance(args[0], int) else 8
        _refuse_size(len(owner) + owner.count("\t") * size, "expandtabs")


# Filters whose result can be far bigger than their input: checked before they run.
def _filter_precheck(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    value = args[0] if args else None
    rest = (*args[1:], *kwargs.values())
    if name in ("center", "indent", "wordwrap", "truncate", "batch", "slice"):
        _check_int_args(f"the filter {name!r}", rest)
    if name == "center":
        width = args[1] if len(args) > 1 else kwargs.get("width", 80)
        _refuse_size(width if isinstance(width, int) else 0, "center")
    elif name == "indent" and isinstance(value, str):
        width = args[1] if len(args) > 1 else kwargs.get("width", 4)
        per_line = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        _refuse_size(len(value) + (value.count("\n") + 1) * per_line, "indent")
    elif name == "wordwrap" and isinstance(value, str):
        width = args[1] if len(args) > 1 else kwargs.get("width", 79)
        wrap = args[3] if len(args) > 3 else kwargs.get("wrapstring") or "\n"
        lines = len(value) // max(width if isinstance(width, int) else 1, 1) + 1
        _refuse_size(len(value) + lines * len(str(wrap)), "wordwrap")
    elif name in ("batch", "slice"):
        size = args[1] if len(args) > 1 else kwargs.get("linecount", kwargs.get("slices", 1))
        if isinstance(size, int):
            _tick(max(size, 0))
    elif name == "format":
        _check_format_spec(value)
        if isinstance(value, str) and "*" in value:
            _check_int_args("the filter 'format'", rest)
    elif name == "replace" and isinstance(value, str):
        old = args[1] if len(args) > 1 else kwargs.get("old", "")
        new = args[2] if len(args) > 2 else kwargs.get("new", "")
        count = args[3] if len(args) > 3 else kwargs.get("count")
        _refuse_size(_replace_size(value, old, new, count), "replace")
    elif name == "join":
        sep = args[1] if len(args) > 1 else kwargs.get("d", "")
        _refuse_size(len(str(sep)) * _length(value), "join")


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    passes = getattr(func, "jinja_pass_arg", None)  # set by @pass_context / @pass_environment / ...

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _tick()
        # a context/environment passed first is the filter's own, not the value
        _filter_precheck(name, args[1:] if passes is not None else args, kwargs)
        return _sized(func(*args, **kwargs))

    wrapper.__name__ = getattr(func, "__name__", name)
    if passes is not None:
        wrapper.jinja_pass_arg = passes  # type: ignore[attr-defined]
    return wrapper


def _bounded_range(*args: Any) -> range:
    from jinja2.sandbox import safe_range

    rng: range = safe_range(*args)
    _tick(len(rng))
    return rng


@lru_cache(maxsize=1)
def _env() -> Any:
    from jinja2 import StrictUndefined, pass_context
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class _Undefined(StrictUndefined):
        """Says which run value lacks the name: `metadata` has no key 'tier' (and how to give or default it)."""

        __slots__ = ()

        @property
        def _undefined_message(self) -> str:
            if self._undefined_hint:
                return str(super()._undefined_message)
            budget = _BUDGET.get()
            owner = budget.names.get(id(self._undefined_obj)) if budget is not None else None
            name = self._undefined_name
            if owner == "metadata":
                return (
                    f"metadata has no key {name!r} in this run (give it with --meta {name}=VALUE, or write"
                    f" `metadata.{name} | default('...')`)"
                )
            if owner == "steps":
                return f"steps has no {name!r} in this run (that step has not run: a branch not taken, or a later step)"
            return str(super()._undefined_message)

    class Bounded(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**", "%", "+", "//", "/", "-"})

        def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
            _tick()
            _check_binop(op, left, right)
            return _sized(super().call_binop(context, op, left, right))

        def getattr(self, obj: Any, attribute: str) -> Any:
            _tick()
            return super().getattr(obj, attribute)

        def getitem(self, obj: Any, argument: Any) -> Any:
            _tick()
            return super().getitem(obj, argument)

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
            _tick()
            target = getattr(__obj, "__wrapped__", __obj)
            owner = getattr(target, "__self__", None)
            if isinstance(owner, (str, bytes, list, tuple, dict)):
                _check_method(owner, getattr(target, "__name__", "method"), args, kwargs)
            return _sized(super().call(__context, __obj, *args, **kwargs))

    env = Bounded(undefined=_Undefined, autoescape=False, keep_trailing_newline=True)
    env.globals["range"] = _bounded_range
    env.globals.pop("lipsum", None)
    env.filters = {name: _bounded_filter(name, func) for name, func in env.filters.items()}

    @pass_context
    def loop_items(_context: Any, iterable: Any) -> Iterator[Any]:
        budget = _BUDGET.get()
        for item in iterable:
            if budget is not None:
                budget.tick()
            yield item

    @pass_context
    def out(_context: Any, value: Any) -> str:
        text = str(value)
        budget = _BUDGET.get()
        if budget is not None:
            budget.tick()
            budget.output(len(text))
        return text

    @pass_context
    def sized(_context: Any, value: Any) -> Any:
        _tick()
        return _sized(value)

    # Internal names: `check_template` refuses a filter name starting with `_` in a profile.
    env.filters["_wb_loop"] = loop_items
    env.filters["_wb_out"] = out
    env.filters["_wb_sized"] = sized
    return env


def _instrument(ast: Any) -> Any:
    """Make every loop, output piece and `~` concatenation of a parsed template count against the budget."""
    from jinja2 import nodes

    def wrap(node: Any, name: str) -> Any:
        return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)

    for loop in ast.find_all(nodes.For):
        loop.iter = wrap(loop.iter, "_wb_loop")
    for output in ast.find_all(nodes.Output):
        output.nodes = [wrap(child, "_wb_out") for child in output.nodes]
    for parent in [ast, *ast.find_all(nodes.Node)]:
        for field in parent.fields:
            value = getattr(parent, field, None)
            if isinstance(value, nodes.Concat):
                setattr(parent, field, wrap(value, "_wb_sized"))
            elif isinstance(value, list):
                setattr(parent, field, [wrap(v, "_wb_sized") if isinstance(v, nodes.Concat) else v for v in value])
    return ast


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


def _parse(text: str) -> tuple[Any, str | None]:
    from jinja2 import TemplateSyntaxError

    try:
        return _env().parse(text), None
    except TemplateSyntaxError as exc:
        return None, f"template syntax error on its line {exc.lineno}: {exc.message}"
    except (RecursionError, MemoryError):
        return None, _TOO_DEEP


_TOO_DEEP = "template is nested too deeply to read (expected fewer nested brackets or blocks)"


def check_template(text: str, step_names: Iterable[str]) -> str | None:
    """None if `text` is a usable template, else what is wrong in plain words."""
    if not is_template(text):
        return None
    try:
        return _check(text, step_names)
    except (RecursionError, MemoryError):
        return _TOO_DEEP


def _check(text: str, step_names: Iterable[str]) -> str | None:
    from jinja2 import meta, nodes
    from jinja2.exceptions import TemplateError as JinjaError

    ast, problem = _parse(text)
    if problem is not None:
        return problem
    env = _env()
    for node in ast.find_all((nodes.Filter, nodes.Test)):
        table, what = (env.filters, "filter") if isinstance(node, nodes.Filter) else (env.tests, "test")
        if node.name not in table or node.name.startswith("_"):
            public = sorted(n for n in table if not n.startswith("_"))
            close = difflib.get_close_matches(node.name, public, n=1, cutoff=0.6)
            return f"template uses unknown {what} {node.name!r} on its line {node.lineno}" + (
                f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(public)})"
            )
    for node in ast.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
        return (
            f"template on its line {node.lineno} loads another template; a profile's templates cannot read files"
            " (expected the text inline, or a macro defined in the same template)"
        )
    try:
        undeclared = meta.find_undeclared_variables(ast)
    except JinjaError as exc:
        return f"template cannot be compiled: {exc}"
    unknown = sorted(undeclared - CONTEXT_NAMES)
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(CONTEXT_NAMES), n=1, cutoff=0.6)
        return (
            f"template uses unknown name{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}"
            f" (known: {', '.join(sorted(CONTEXT_NAMES))}" + (f"; did you mean {close[0]!r}?)" if close else ")")
        )
    known = set(step_names)
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        target = node.node
        if isinstance(target, nodes.Name) and target.name == "steps":
            ref = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
            if isinstance(ref, str) and ref not in known:
                close = difflib.get_close_matches(ref, sorted(known), n=1, cutoff=0.6)
                return (
                    f"template names step {ref!r}, which this route does not have (steps: {', '.join(sorted(known))}"
                    + (f"; did you mean {close[0]!r}?)" if close else ")")
                )
    try:
        _compiled(text)  # compiled once here, reused by every run
    except TemplateError as exc:
        return exc.what
    return None


@lru_cache(maxsize=512)
def _compiled(text: str) -> Any:
    ast, problem = _parse(text)
    if problem is not None:
        raise TemplateError(problem)
    try:
        return _env().from_string(_instrument(ast))
    except (RecursionError, MemoryError):
        raise TemplateError(_TOO_DEEP) from None
    except SyntaxError:  # Python refuses the generated code: more than ~100 nested blocks or parentheses
        raise TemplateError(
            "template cannot be compiled: its blocks or expressions nest too deeply (expected fewer nested blocks)"
        ) from None
    except Exception as exc:  # noqa: BLE001 - whatever a user's template makes Jinja raise is the template's error
        raise TemplateError(f"template cannot be compiled: {' '.join(str(exc).split())}") from None


def _template_line(exc: BaseException) -> int | None:
    """The template's own line where `exc` was raised (Jinja rewrites tracebacks to point into the template)."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _words(exc: BaseException) -> str:
    from jinja2.exceptions import SecurityError, UndefinedError

    if isinstance(exc, _Limit):
        return f"stopped: {exc}"
    if isinstance(exc, RecursionError):
        return "recursed too deeply (a macro or recursive loop that calls itself without end?)"
    if isinstance(exc, MemoryError):
        return "ran out of memory"
    if isinstance(exc, SecurityError):
        return f"refused by the sandbox: {exc}"
    if isinstance(exc, UndefinedError):
        return str(exc)
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    text = " ".join(str(exc).split()) or "no details"
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(exc).__name__}: {text}"


def render(text: str, context: Mapping[str, Any]) -> str:
    """Render a template (plain text passes through untouched, at no cost). Raises TemplateError, nothing else."""
    if not is_template(text):
        return text
    budget = _Budget(context)
    token = _BUDGET.set(budget)
    try:
        return str(_compiled(text).render(**context))
    except TemplateError:
        raise
    except Exception as exc:  # noqa: BLE001 - RecursionError and MemoryError included: a template's fault, not ours
        raise TemplateError(_words(exc), _template_line(exc)) from None
    finally:
        _BUDGET.reset(token)


def render_field(step_name: str, field: str, text: str, context: Mapping[str, Any]) -> str:
    """`render` for a step's field (`prompt`, `system`, `template`, `query`, `feedback`): a TemplateError then
    names the step and the field ("step 'answer': the prompt template failed on its line 1: ...")."""
    try:
        return render(text, context)
    except TemplateError as exc:
        label = "template" if field == "template" else f"{field} template"
        raise TemplateError(exc.what, exc.line, f"step {step_name!r}: the {label}") from None


# --- what no run can provide (warnings for `profile check`) ----------------------------------------------------

#: the fields of a step's result a template reads (`workbench.engine.context.StepResult` has them, and maybe more:
#: any of its fields is accepted, these are the ones a warning lists)
STEP_FIELDS: tuple[str, ...] = (
    "name",
    "kind",
    "status",
    "output",
    "error",
    "reason",
    "branch",
    "label",
    "score",
    "data",
)
#: the fields of a retrieved document and of a history turn
DOC_FIELDS: tuple[str, ...] = ("id", "title", "text", "score", "source")
TURN_FIELDS: tuple[str, ...] = ("role", "content")
_ITEM_KINDS = {"docs": ("a document", DOC_FIELDS), "history": ("a history turn", TURN_FIELDS)}
_DICT_METHODS = frozenset(n for n in dir(dict) if not n.startswith("_"))


def _const_key(node: Any) -> Any:
    """The attribute or constant subscript a Getattr/Getitem node reads (None when computed at run time)."""
    from jinja2 import nodes

    if isinstance(node, nodes.Getattr):
        return node.attr
    arg = getattr(node, "arg", None)
    return arg.value if isinstance(arg, nodes.Const) else None


def _list_root(node: Any) -> str | None:
    """`docs` / `history` when `node` is one of those lists, maybe sliced, sorted or reversed."""
    from jinja2 import nodes

    while True:
        if isinstance(node, nodes.Name):
            return node.name if node.name in _ITEM_KINDS else None
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Slice):
            node = node.node
        elif isinstance(node, nodes.Filter) and node.name in ("sort", "reverse", "list", "unique"):
            node = node.node
        else:
            return None


def template_warnings(text: str, unavailable: Mapping[str, str], has_docs: bool) -> list[str]:
    """What this template reads that no run can provide where it renders: `steps.X` of a step that cannot have
    run before it (`unavailable` says why, per step name), a field a step result, document or history turn does
    not have, an attribute text does not have, or `docs[...]` where no retrieve step runs before (always empty).
    Plain words, one per finding; [] for plain text or a template `check_template` refuses."""
    if not is_template(text):
        return []
    try:
        return _warnings(text, unavailable, has_docs)
    except (RecursionError, MemoryError):
        return []


def _warnings(text: str, unavailable: Mapping[str, str], has_docs: bool) -> list[str]:
    from jinja2 import nodes

    ast, problem = _parse(text)
    if problem is not None:
        return []
    out: list[str] = []

    def add(words: str) -> None:
        if words not in out:
            out.append(words)

    import dataclasses

    from workbench.engine.context import StepResult  # the engine's own record: what `steps.X.field` can read

    step_fields = {f.name for f in dataclasses.fields(StepResult)}
    lookups = (nodes.Getattr, nodes.Getitem)
    loop_items: dict[str, str] = {}  # loop variable -> "docs" / "history"
    for loop in ast.find_all(nodes.For):
        root = _list_root(loop.iter)
        if root is not None and isinstance(loop.target, nodes.Name):
            loop_items[loop.target.name] = root
    for node in ast.find_all(lookups):
        key = _const_key(node)
        inner = node.node
        if isinstance(inner, nodes.Name) and isinstance(key, str):
            name = inner.name
            if name == "steps" and key in unavailable:
                add(f"`steps.{key}` is never set when this template renders: {unavailable[key]}")
            elif name in ("input", "feedback") and not hasattr(str, key):
                add(f"`{name}.{key}`: {name} is text, which has no {key!r}")
            elif name in loop_items and key not in _ITEM_KINDS[loop_items[name]][1] and key not in _DICT_METHODS:
                what, fields = _ITEM_KINDS[loop_items[name]]
                add(f"`{name}.{key}`: {what} has no field {key!r} (fields: {', '.join(fields)})")
            elif name == "docs" and not has_docs and not hasattr(list, key):
                add("`docs` is always empty here: no retrieve step runs before this one")
        elif isinstance(inner, nodes.Name) and inner.name == "docs" and not has_docs and isinstance(key, int):
            add("`docs` is always empty here: no retrieve step runs before this one")
        elif isinstance(inner, lookups) and isinstance(key, str):
            owner = inner.node
            ref = _const_key(inner)
            if isinstance(owner, nodes.Name) and owner.name == "steps" and isinstance(ref, str):
                if ref not in unavailable and key not in step_fields:
                    add(f"`steps.{ref}.{key}`: a step's result has no field {key!r} (fields: {', '.join(STEP_FIELDS)})")
            elif isinstance(owner, nodes.Name) and owner.name in _ITEM_KINDS and isinstance(ref, int):
                what, fields = _ITEM_KINDS[owner.name]
                if key not in fields and key not in _DICT_METHODS:
                    add(f"`{owner.name}[{ref}].{key}`: {what} has no field {key!r} (fields: {', '.join(fields)})")
    return out
