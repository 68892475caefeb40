"""Reading evaluation datasets: JSONL, CSV and the common subset of promptfoo test files.

JSONL, one case per line:
    {"id": "refund-1", "input": "How do I get a refund?", "metadata": {"tier": "gold"},
     "checks": {"contains": ["refund"], "max_tokens": 120}}
`messages` ([{role, content}, ...], the last one the user's) may replace `input`; `checks` is a mapping of check
type -> value (see `workbench.eval.checks`) or a list of `{type, value}`; `expected` may sit at the top level.

CSV: columns `id`, `input`, any check type (`contains` holds several texts separated by `|`) and `meta.KEY` for
metadata.

promptfoo (`.yaml`/`.yml`): `prompts` (text, or `{raw, label}`) and `tests` with `vars` and `assert`; the prompts
are a matrix, as in promptfoo: every prompt runs with every test (`{{var}}` filled from the test's `vars`), each
case labelled with its prompt (`refund timing [prompt 2]`) when there is more than one; without prompts the
`input`, `prompt` or `question` var is the input. `defaultTest` asserts apply to every test. Assert types mapped: equals, contains, icontains, not-contains, not-icontains, regex,
is-json (with a schema: json_schema), contains-json, llm-rubric, cost, latency. `javascript` and `python` run
code and are refused; any other type is an error naming the file, the case and the type.

A dataset is read as a profile is, through the same guards (`workbench.profiles.read_guard`, `yaml_doc`): only a
regular file under the size limit (a device or a FIFO is refused before a byte is read), YAML aliases counted
against the profile loader's expansion budget ("billion laughs"), nesting no deeper than its depth limit. Text
must be valid Unicode (a lone surrogate such as "\\ud800" cannot be saved). Anything wrong is a DatasetError
(exit 2) naming the file, the line, the case and the field.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from workbench.errors import ProfileError, WorkbenchError
from workbench.eval.checks import CHECK_TYPES, Check
from workbench.profiles.read_guard import FileTooLarge, NotRegularFile, read_regular_file

MAX_DATASET_BYTES = 64 * 1024 * 1024
#: the longest CSV field: the csv module's own default limit. Longer is nearly always an unclosed quote that
#: swallowed the rest of the file; a long input fits a JSONL dataset, which has no such limit
MAX_CSV_FIELD = 131_072


#: the largest `max_tokens` a check may ask for: the profile's own bound on a model's max_output_tokens
MAX_TOKENS = 10_000_000


class DatasetError(WorkbenchError):
    title = "dataset error"


@dataclass(frozen=True)
class Case:
    id: str
    input: str
    history: list[dict[str, str]] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)


@dataclass(frozen=True)
class Dataset:
    path: Path
    sha256: str
    cases: list[Case]


def _read(p: Path) -> bytes:
    try:
        return read_regular_file(p, MAX_DATASET_BYTES)
    except NotRegularFile as exc:
        raise DatasetError(
            f"{p}: is {exc.what}, not a regular file (expected a .jsonl, .csv or promptfoo .yaml dataset)"
        ) from None
    except FileTooLarge as exc:
        raise DatasetError(
            f"{p}: {exc.size / 2**20:.1f} MB is too large (expected a dataset under {MAX_DATASET_BYTES // 2**20} MB)"
        ) from None
    except OSError as exc:
        raise DatasetError(f"cannot read the dataset {p}: {exc.strerror or exc}") from None


def load_dataset(path: str | Path) -> Dataset:
    p = Path(path)
    suffix = p.suffix.lower()
    readers = {".jsonl": _jsonl, ".ndjson": _jsonl, ".csv": _csv, ".yaml": _promptfoo, ".yml": _promptfoo}
    if suffix not in readers:
        raise DatasetError(f"{p}: unknown dataset format {suffix!r}", hint="use .jsonl, .csv or a promptfoo .yaml")
    raw = _read(p)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DatasetError(f"{p}:{line}: not UTF-8 text (byte {exc.start})") from None
    cases = readers[suffix](p, text)
    if not cases:
        raise DatasetError(f"{p}: the dataset has no cases")
    seen: set[str] = set()
    for case in cases:
        if case.id in seen:
            raise DatasetError(f"{p}: case id {case.id!r} is used twice")
        seen.add(case.id)
    return Dataset(p, hashlib.sha256(raw).hexdigest(), cases)


# --- values ------------------------------------------------------------------------------------------------------


def _dotted(path: tuple[str | int, ...]) -> str:
    out = ""
    for seg in path:
        out += f"[{seg}]" if isinstance(seg, int) else (f".{seg}" if out else str(seg))
    return out or "(case)"


def _sound(obj: Any) -> tuple[tuple[str | int, ...], str] | None:
    """The first place in parsed data that cannot be used: nesting deeper than the profile loader allows, or text
    that is not valid Unicode (a lone surrogate, which JSON's `\ud800` and YAML's `"\ud800"` let through and
    SQLite then refuses). (path, what is wrong), or None. A flat walk: no recursion on hostile depth."""
    from workbench.profiles.yaml_doc import MAX_DEPTH

    stack: list[tuple[tuple[str | int, ...], Any]] = [((), obj)]
    while stack:
        path, node = stack.pop()
        if len(path) > MAX_DEPTH:
            return path[:3], f"nested more than {MAX_DEPTH} deep (expected a case's few levels)"
        if isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError as exc:
                bad = f"\\u{ord(node[exc.start]):04x}"
                return path, f"text with a lone surrogate {bad} at character {exc.start + 1} (expected valid Unicode)"
        elif isinstance(node, dict):
            for k, v in node.items():
                key = str(k)
                if _sound(key) is not None:
                    return path, "a key with a lone surrogate (expected valid Unicode)"
                stack.append(((*path, key), v))
        elif isinstance(node, list):
            stack.extend(((*path, i), v) for i, v in enumerate(node))
    return None


def _scalar_text(where: str, name: str, value: Any) -> str:
    """Metadata values and template vars: text, a number or a boolean (shown as text)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, str | int | float):
        return str(value)
    raise DatasetError(f"{where}: {name}: expected text or a number, got {_kind(value)}")


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{value!r}"


def _mapping(where: str, name: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DatasetError(f"{where}: {name}: expected a mapping, got {_kind(value)}")
    return {str(k): v for k, v in value.items()}


def _metadata(where: str, name: str, value: Any) -> dict[str, str]:
    return {k: _scalar_text(where, f"{name}.{k}", v) for k, v in _mapping(where, name, value).items()}


def _number(where: str, name: str, value: Any, *, whole: bool = False, most: int | None = None) -> int | float:
    """A finite non-negative number (from a number or its text), at most `most`; a whole number if `whole`."""
    want = "a whole number" if whole else "a number"
    want += f" from 0 to {most:,}" if most is not None else " of 0 or more"
    number: Decimal | None = None
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            number = Decimal(value.strip() if isinstance(value, str) else repr(value))
        except (InvalidOperation, ValueError):
            number = None
    if (
        number is None
        or not number.is_finite()
        or number < 0
        or (most is not None and number > Decimal(repr(most)))
        or (whole and number != number.to_integral_value())
    ):
        raise DatasetError(f"{where}: {name}: expected {want}, got {value!r}")
    if whole:
        return int(number)
    out = float(number)
    if not math.isfinite(out):
        raise DatasetError(f"{where}: {name}: expected {want}, got {value!r}")
    return value if isinstance(value, int | float) else out


# --- checks ------------------------------------------------------------------------------------------------------


def _checks(where: str, spec: Any, name: str = "checks") -> list[Check]:
    if spec is None:
        return []
    items: list[tuple[str, str, Any, dict[str, Any]]] = []
    if isinstance(spec, dict):
        items = [(f"{name}.{k}", k, v, {}) for k, v in spec.items()]
    elif isinstance(spec, list):
        for i, entry in enumerate(spec):
            if not isinstance(entry, dict) or "type" not in entry:
                raise DatasetError(f"{where}: {name}[{i}]: each check in a list needs a `type` (got {entry!r})")
            extra = {k: v for k, v in entry.items() if k not in ("type", "value")}
            items.append((f"{name}[{i}]", entry["type"], entry.get("value", True), extra))
    else:
        raise DatasetError(f"{where}: `{name}` must be a mapping or a list (got {type(spec).__name__})")
    out: list[Check] = []
    for at, kind, value, extra in items:
        if not isinstance(kind, str) or kind not in CHECK_TYPES:
            raise DatasetError(
                f"{where}: {at}: unknown check type {kind!r}", hint=f"check types: {', '.join(CHECK_TYPES)}"
            )
        out.append(_make(where, kind, value, at=at, **extra))
    return out


def _make(where: str, kind: str, value: Any, *, at: str = "", **extra: Any) -> Check:
    at = at or kind
    if kind == "max_tokens":
        value = _number(where, at, value, whole=True, most=MAX_TOKENS)
    elif kind in ("max_latency_ms", "max_cost_usd"):
        value = _number(where, at, value)
    if kind == "regex":
        try:
            re.compile(str(value))
        except (re.error, RecursionError, OverflowError) as exc:
            raise DatasetError(f"{where}: {at}: regex {value!r} does not compile ({exc})") from None
    if kind == "json_schema":
        if not isinstance(value, dict):
            raise DatasetError(f"{where}: {at}: json_schema needs a JSON Schema object")
        import jsonschema

        try:
            jsonschema.Draft202012Validator.check_schema(value)
        except jsonschema.SchemaError as exc:
            raise DatasetError(f"{where}: {at}: the JSON Schema is invalid ({exc.message})") from None
    if kind == "judge" and not (isinstance(value, str) and value.strip()):
        raise DatasetError(f"{where}: {at}: a judge check needs a rubric (text)")
    if kind in ("contains", "not_contains"):
        texts = value if isinstance(value, list) else [value]
        if not value or not all(isinstance(t, str | int | float) and not isinstance(t, bool) for t in texts):
            raise DatasetError(f"{where}: {at}: {kind} needs a text or a list of texts (got {_kind(value)})")
    ignore_case = extra.get("ignore_case", True)
    if not isinstance(ignore_case, bool):
        raise DatasetError(f"{where}: {at}.ignore_case: expected true or false, got {ignore_case!r}")
    threshold = extra.get("threshold", 0.7)
    threshold = _number(where, f"{at}.threshold", 0.7 if threshold is None else threshold, most=1)
    return Check(type=kind, value=value, ignore_case=ignore_case, threshold=float(threshold))


def _input(where: str, obj: dict[str, Any]) -> tuple[str, list[dict[str, str]]]:
    if "messages" in obj:
        msgs = obj["messages"]
        if not (isinstance(msgs, list) and msgs and all(isinstance(m, dict) for m in msgs)):
            raise DatasetError(f"{where}: messages: expected a non-empty list of {{role, content}}")
        for i, m in enumerate(msgs):
            if m.get("role") not in ("user", "assistant", "system") or not isinstance(m.get("content"), str):
                raise DatasetError(
                    f"{where}: messages[{i}]: each message needs a role (user/assistant/system) and text content"
                )
        if msgs[-1]["role"] != "user":
            raise DatasetError(f"{where}: messages[{len(msgs) - 1}]: the last message must be the user's")
        return msgs[-1]["content"], [{"role": m["role"], "content": m["content"]} for m in msgs[:-1]]
    value = obj.get("input")
    if not isinstance(value, str) or not value.strip():
        raise DatasetError(f"{where}: input: the case needs an `input` (text) or `messages`")
    return value, []


# --- JSONL -------------------------------------------------------------------------------------------------------


def _jsonl(p: Path, text: str) -> list[Case]:
    from workbench.profiles.yaml_doc import MAX_DEPTH

    cases: list[Case] = []
    # split on newlines only: U+2028 and friends (which str.splitlines() also splits on) are legal inside JSON text
    for n, line in enumerate(text.split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        where = f"{p}:{n}"
        try:
            obj = json.loads(line)
        except RecursionError:
            what = f"nested more than {MAX_DEPTH} deep (expected a case's few levels)"
            raise DatasetError(f"{where}: {_deep_key(line, MAX_DEPTH)}: {what}") from None
        except ValueError as exc:
            raise DatasetError(f"{where}: not JSON ({exc})") from None
        if not isinstance(obj, dict):
            raise DatasetError(f"{where}: each line must be a JSON object")
        bad = _sound(obj)
        if bad is not None:
            raise DatasetError(f"{where}: {_dotted(bad[0])}: {bad[1]}")
        cid = _scalar_text(where, "id", obj.get("id")).strip() or f"case-{len(cases) + 1}"
        where = f"{where}: case {cid!r}"
        prompt, history = _input(where, obj)
        checks = _checks(where, obj.get("checks"))
        if "expected" in obj:
            checks.insert(0, _make(where, "expected", obj["expected"]))
        cases.append(Case(cid, prompt, history, _metadata(where, "metadata", obj.get("metadata")), checks))
    return cases


def _deep_key(line: str, limit: int) -> str:
    """The top-level key under which a JSON line nests deeper than `limit` (a flat scan: json.loads gave up)."""
    depth, key, text, in_string, escaped = 0, "(case)", "", False, False
    for ch in line:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            elif depth == 1:
                text += ch
        elif ch == '"':
            in_string, text = True, "" if depth == 1 else text
        elif ch == ":" and depth == 1:
            key = text
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return key
        elif ch in "]}":
            depth -= 1
    return key


# --- CSV ---------------------------------------------------------------------------------------------------------


def _csv_rows(p: Path, text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(header, [(line the record starts on, fields)]). Read with the csv module's field limit raised for the
    read, so a field over MAX_CSV_FIELD is named by its line and column instead of failing inside csv."""
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, MAX_DATASET_BYTES))
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[tuple[int, list[str]]] = []
    try:
        while True:
            start = reader.line_num + 1
            try:
                rows.append((start, next(reader)))
            except StopIteration:
                break
            except csv.Error as exc:
                raise DatasetError(f"{p}:{start}: not CSV ({exc})") from None
    finally:
        csv.field_size_limit(limit)
    if not rows:
        return [], []
    return rows[0][1], rows[1:]


def _csv(p: Path, text: str) -> list[Case]:
    header, records = _csv_rows(p, text)
    if "input" not in header:
        raise DatasetError(f"{p}:1: a CSV dataset needs an `input` column (columns: {header or None})")
    for line, fields in [(1, header), *records]:
        for i, val in enumerate(fields):
            if len(val) > MAX_CSV_FIELD:
                col = header[i] if i < len(header) else f"column {i + 1}"
                raise DatasetError(
                    f"{p}:{line}: {col}: a field of {len(val):,} characters is longer than {MAX_CSV_FIELD:,}"
                    " (an unclosed quote?)",
                    hint="put long inputs in a JSONL dataset",
                )
    cases: list[Case] = []
    for line, fields in records:
        if not any(f.strip() for f in fields):
            continue
        row = dict(zip(header, fields, strict=False))
        cid = (row.get("id") or "").strip() or f"case-{len(cases) + 1}"
        where = f"{p}:{line}: case {cid!r}"
        if len(fields) > len(header):
            raise DatasetError(f"{where}: {len(fields)} fields but {len(header)} columns")
        spec: dict[str, Any] = {}
        meta: dict[str, str] = {}
        for col, val in row.items():
            if val == "" or col in ("id", "input"):
                continue
            if col.startswith("meta."):
                meta[col[5:]] = val
            elif col in ("contains", "not_contains"):
                spec[col] = [v for v in val.split("|") if v]
            elif col == "json_schema":
                try:
                    spec[col] = json.loads(val)
                except (ValueError, RecursionError):
                    raise DatasetError(f"{where}: json_schema: not JSON") from None
                bad = _sound(spec[col])
                if bad is not None:
                    raise DatasetError(f"{where}: json_schema{_dotted(bad[0]).join('.' * bool(bad[0]))}: {bad[1]}")
            elif col in ("json", "contains_json"):
                spec[col] = True
            else:
                spec[col] = val
        prompt, _ = _input(where, {"input": row.get("input")})
        cases.append(Case(cid, prompt, [], meta, _checks(where, spec)))
    return cases


# --- promptfoo ---------------------------------------------------------------------------------------------------

# promptfoo assert type -> (our check type, case-insensitive)
_PROMPTFOO: dict[str, tuple[str, bool]] = {
    "equals": ("expected", False),
    "contains": ("contains", False),
    "icontains": ("contains", True),
    "not-contains": ("not_contains", False),
    "not-icontains": ("not_contains", True),
    "regex": ("regex", False),
    "is-json": ("json", False),
    "contains-json": ("contains_json", False),
    "llm-rubric": ("judge", False),
    "cost": ("max_cost_usd", False),
    "latency": ("max_latency_ms", False),
}
_CODE_ASSERTS = ("javascript", "python")


def _yaml(p: Path, text: str) -> tuple[Any, Any]:
    """(the round-trip document, its plain data), through the profile loader's YAML guards: located syntax
    errors, the nesting limit, and the expansion budget that stops alias bombs."""
    from workbench.profiles.problems import node_pos
    from workbench.profiles.yaml_doc import MAX_NODES, Unplain, make_yaml, parse, plain

    try:
        doc = parse(make_yaml(text), text, str(p))
    except ProfileError as exc:  # the profile loader's words, about a test file here
        raise DatasetError(exc.message.replace("a profile's few levels", "a test file's few levels")) from None
    try:
        data = plain(doc, [MAX_NODES])
    except Unplain as exc:
        line, col = node_pos(doc) if doc is not None and hasattr(doc, "lc") else (1, 1)
        raise DatasetError(f"{p}:{line}:{col}: (yaml): {exc}") from None
    except RecursionError:
        raise DatasetError(f"{p}: (yaml): nested too deep (expected a test file's few levels)") from None
    return doc, data


def _prompts(p: Path, doc: Any, data: dict[str, Any]) -> list[tuple[str, str]]:
    """[(label, template)] of the file's `prompts`: text, or a mapping with `raw` (and `label` or `id`)."""
    spec = data.get("prompts")
    if spec is None:
        return []
    items = [spec] if isinstance(spec, str | dict) else spec
    if not isinstance(items, list):
        raise DatasetError(f"{_at(p, doc, ('prompts',))}: prompts: expected text or a list of prompts")
    out: list[tuple[str, str]] = []
    for j, item in enumerate(items):
        label = f"prompt {j + 1}"
        if isinstance(item, dict):
            raw = item.get("raw")
            named = item.get("label", item.get("id"))
            if isinstance(named, str | int | float) and not isinstance(named, bool) and str(named).strip():
                label = str(named)
            item = raw
        if not isinstance(item, str) or not item.strip():
            where = _at(p, doc, ("prompts", j) if isinstance(spec, list) else ("prompts",))
            raise DatasetError(
                f"{where}: prompts[{j}]: expected the prompt's text (or a mapping with `raw:` text), got {_kind(item)}"
            )
        out.append((label, item))
    labels = [lbl for lbl, _ in out]
    if len(set(labels)) != len(labels):
        raise DatasetError(f"{_at(p, doc, ('prompts',))}: prompts: two prompts have the same label")
    return out


def _at(p: Path, doc: Any, path: tuple[str | int, ...]) -> str:
    """`FILE:LINE` of the node at `path` in the round-trip document (the nearest enclosing one)."""
    from workbench.profiles.problems import locate

    try:
        (line, _), _, _ = locate(doc, path)
    except Exception:  # noqa: BLE001 - only a best effort at a line
        line = 1
    return f"{p}:{line}"


def _promptfoo(p: Path, text: str) -> list[Case]:
    doc, data = _yaml(p, text)
    if not isinstance(data, dict) or not isinstance(data.get("tests"), list):
        raise DatasetError(f"{p}: a promptfoo file needs a `tests` list")
    bad = _sound(data)
    if bad is not None:
        raise DatasetError(f"{_at(p, doc, bad[0])}: {_dotted(bad[0])}: {bad[1]}")
    prompts = _prompts(p, doc, data)
    default = _mapping(_at(p, doc, ("defaultTest",)), "defaultTest", data.get("defaultTest"))
    defaults = default.get("assert") or []
    if not isinstance(defaults, list):
        raise DatasetError(f"{_at(p, doc, ('defaultTest', 'assert'))}: defaultTest.assert: expected a list of asserts")
    cases: list[Case] = []
    for i, test in enumerate(data["tests"]):
        here = _at(p, doc, ("tests", i))
        if not isinstance(test, dict):
            raise DatasetError(f"{here}: tests[{i}]: expected a mapping, got {_kind(test)}")
        cid = _scalar_text(f"{here}: tests[{i}]", "description", test.get("description") or test.get("id")).strip()
        cid = cid or f"test-{i + 1}"
        where = f"{here}: tests[{i}] ({cid!r})"
        vars_ = _mapping(where, "vars", test.get("vars"))
        asserts = test.get("assert") or []
        if not isinstance(asserts, list):
            raise DatasetError(f"{where}: assert: expected a list of asserts, got {_kind(asserts)}")
        checks = [_assert(where, f"defaultTest.assert[{k}]", a) for k, a in enumerate(defaults)]
        checks += [_assert(where, f"assert[{k}]", a) for k, a in enumerate(asserts)]
        meta = _metadata(where, "metadata", test.get("metadata"))
        for label, template in prompts or [("", "")]:
            if template:
                prompt = _fill(where, vars_, template)
            else:
                found = next((k for k in ("input", "prompt", "question") if k in vars_), None)
                prompt = "" if found is None else _scalar_text(where, f"vars.{found}", vars_[found])
            if not prompt.strip():
                raise DatasetError(f"{where}: no input (give `prompts` or a var named input, prompt or question)")
            case_id = f"{cid} [{label}]" if len(prompts) > 1 else cid
            cases.append(Case(case_id, prompt, [], meta, checks))
    return cases


def _fill(where: str, vars_: dict[str, Any], template: str) -> str:
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: _var(where, vars_, m.group(1)), template)


def _var(where: str, vars_: dict[str, Any], name: str) -> str:
    if name not in vars_:
        raise DatasetError(f"{where}: the prompt uses {{{{{name}}}}} but the test has no var {name!r}")
    return _scalar_text(where, f"vars.{name}", vars_[name])


def _assert(where: str, at: str, a: Any) -> Check:
    if not isinstance(a, dict) or "type" not in a:
        raise DatasetError(f"{where}: {at}: each assert needs a `type`")
    kind = a["type"]
    if kind in _CODE_ASSERTS:
        raise DatasetError(
            f"{where}: {at}: assert type {kind!r} runs {kind} code, which workbench does not execute",
            hint="rewrite it as regex, contains, is-json or llm-rubric",
        )
    if not isinstance(kind, str) or kind not in _PROMPTFOO:
        raise DatasetError(
            f"{where}: {at}: unsupported assert type {kind!r}", hint=f"supported: {', '.join(sorted(_PROMPTFOO))}"
        )
    ours, insensitive = _PROMPTFOO[kind]
    value = a.get("value", True)
    extra: dict[str, Any] = {"ignore_case": insensitive}
    if ours in ("max_cost_usd", "max_latency_ms"):
        value = a.get("threshold", a.get("value"))
        at = f"{at}.threshold" if "threshold" in a else f"{at}.value"
    elif ours == "judge":
        extra["threshold"] = a.get("threshold", 0.7)
    elif ours == "json" and isinstance(a.get("value"), dict):
        ours = "json_schema"
    return _make(where, ours, value, at=at, **extra)
