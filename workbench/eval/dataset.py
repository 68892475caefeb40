"""Reading evaluation datasets: JSONL, CSV and the common subset of promptfoo test files.

JSONL, one case per line:
    {"id": "refund-1", "input": "How do I get a refund?", "metadata": {"tier": "gold"},
     "checks": {"contains": ["refund"], "max_tokens": 120}}
`messages` ([{role, content}, ...], the last one the user's) may replace `input`; `checks` is a mapping of check
type -> value (see `workbench.eval.checks`) or a list of `{type, value}`; `expected` may sit at the top level.

CSV: columns `id`, `input`, any check type (`contains` holds several texts separated by `|`) and `meta.KEY` for
metadata.

promptfoo (`.yaml`/`.yml`): `prompts` (the first one is used, `{{var}}` filled from each test's `vars`; without
prompts the `input`, `prompt` or `question` var is the input) and `tests` with `vars` and `assert`; `defaultTest`
asserts apply to every test. Assert types mapped: equals, contains, icontains, not-contains, not-icontains, regex,
is-json (with a schema: json_schema), contains-json, llm-rubric, cost, latency. `javascript` and `python` run
code and are refused; any other type is an error naming the file, the case and the type.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError
from workbench.eval.checks import CHECK_TYPES, Check

MAX_DATASET_BYTES = 64 * 1024 * 1024


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


def load_dataset(path: str | Path) -> Dataset:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read the dataset {p}: {exc.strerror or exc}") from None
    if len(raw) > MAX_DATASET_BYTES:
        raise DatasetError(f"{p}: the dataset is larger than {MAX_DATASET_BYTES // 2**20} MB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{p}: not UTF-8 text (byte {exc.start})") from None
    suffix = p.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        cases = _jsonl(p, text)
    elif suffix == ".csv":
        cases = _csv(p, text)
    elif suffix in (".yaml", ".yml"):
        cases = _promptfoo(p, text)
    else:
        raise DatasetError(f"{p}: unknown dataset format {suffix!r}", hint="use .jsonl, .csv or a promptfoo .yaml")
    if not cases:
        raise DatasetError(f"{p}: the dataset has no cases")
    seen: set[str] = set()
    for case in cases:
        if case.id in seen:
            raise DatasetError(f"{p}: case id {case.id!r} is used twice")
        seen.add(case.id)
    return Dataset(p, hashlib.sha256(raw).hexdigest(), cases)


def _checks(where: str, spec: Any) -> list[Check]:
    if spec is None:
        return []
    items: list[tuple[str, Any, dict[str, Any]]] = []
    if isinstance(spec, dict):
        items = [(k, v, {}) for k, v in spec.items()]
    elif isinstance(spec, list):
        for entry in spec:
            if not isinstance(entry, dict) or "type" not in entry:
                raise DatasetError(f"{where}: each check in a list needs a `type` (got {entry!r})")
            extra = {k: v for k, v in entry.items() if k not in ("type", "value")}
            items.append((entry["type"], entry.get("value", True), extra))
    else:
        raise DatasetError(f"{where}: `checks` must be a mapping or a list (got {type(spec).__name__})")
    out: list[Check] = []
    for kind, value, extra in items:
        if kind not in CHECK_TYPES:
            raise DatasetError(f"{where}: unknown check type {kind!r}", hint=f"check types: {', '.join(CHECK_TYPES)}")
        out.append(_make(where, kind, value, **extra))
    return out


def _make(where: str, kind: str, value: Any, **extra: Any) -> Check:
    if kind in ("max_tokens", "max_latency_ms", "max_cost_usd"):
        try:
            if float(value) < 0:
                raise ValueError
        except (TypeError, ValueError):
            raise DatasetError(f"{where}: check {kind} needs a non-negative number (got {value!r})") from None
    if kind == "regex":
        try:
            re.compile(str(value))
        except re.error as exc:
            raise DatasetError(f"{where}: regex {value!r} does not compile ({exc})") from None
    if kind == "json_schema":
        if not isinstance(value, dict):
            raise DatasetError(f"{where}: json_schema needs a JSON Schema object")
        import jsonschema

        try:
            jsonschema.Draft202012Validator.check_schema(value)
        except jsonschema.SchemaError as exc:
            raise DatasetError(f"{where}: the JSON Schema is invalid ({exc.message})") from None
    if kind == "judge" and not (isinstance(value, str) and value.strip()):
        raise DatasetError(f"{where}: a judge check needs a rubric (text)")
    if kind in ("contains", "not_contains") and not (isinstance(value, str | list) and value):
        raise DatasetError(f"{where}: {kind} needs a text or a list of texts")
    return Check(
        type=kind,
        value=value,
        ignore_case=bool(extra.get("ignore_case", True)),
        threshold=float(extra.get("threshold", 0.7)),
    )


def _input(where: str, obj: dict[str, Any]) -> tuple[str, list[dict[str, str]]]:
    if "messages" in obj:
        msgs = obj["messages"]
        if not (isinstance(msgs, list) and msgs and all(isinstance(m, dict) for m in msgs)):
            raise DatasetError(f"{where}: `messages` must be a non-empty list of {{role, content}}")
        for m in msgs:
            if m.get("role") not in ("user", "assistant", "system") or not isinstance(m.get("content"), str):
                raise DatasetError(f"{where}: each message needs a role (user/assistant/system) and text content")
        if msgs[-1]["role"] != "user":
            raise DatasetError(f"{where}: the last message must be the user's")
        return msgs[-1]["content"], [{"role": m["role"], "content": m["content"]} for m in msgs[:-1]]
    value = obj.get("input")
    if not isinstance(value, str) or not value.strip():
        raise DatasetError(f"{where}: the case needs an `input` (text) or `messages`")
    return value, []


def _jsonl(p: Path, text: str) -> list[Case]:
    cases: list[Case] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        where = f"{p}:{n}"
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise DatasetError(f"{where}: not JSON ({exc})") from None
        if not isinstance(obj, dict):
            raise DatasetError(f"{where}: each line must be a JSON object")
        cid = str(obj.get("id", f"case-{len(cases) + 1}"))
        where = f"{where}: case {cid!r}"
        prompt, history = _input(where, obj)
        checks = _checks(where, obj.get("checks"))
        if "expected" in obj:
            checks.insert(0, _make(where, "expected", obj["expected"]))
        meta = obj.get("metadata") or {}
        if not isinstance(meta, dict):
            raise DatasetError(f"{where}: `metadata` must be a mapping")
        cases.append(Case(cid, prompt, history, {str(k): str(v) for k, v in meta.items()}, checks))
    return cases


def _csv(p: Path, text: str) -> list[Case]:
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or "input" not in reader.fieldnames:
        raise DatasetError(f"{p}: a CSV dataset needs an `input` column (columns: {reader.fieldnames})")
    cases: list[Case] = []
    for n, row in enumerate(reader, 2):
        cid = (row.get("id") or "").strip() or f"case-{len(cases) + 1}"
        where = f"{p}:{n}: case {cid!r}"
        spec: dict[str, Any] = {}
        meta: dict[str, str] = {}
        for col, val in row.items():
            if col is None or val is None or val == "" or col in ("id", "input"):
                continue
            if col.startswith("meta."):
                meta[col[5:]] = val
            elif col in ("contains", "not_contains"):
                spec[col] = [v for v in val.split("|") if v]
            elif col == "json_schema":
                try:
                    spec[col] = json.loads(val)
                except ValueError:
                    raise DatasetError(f"{where}: json_schema is not JSON") from None
            elif col in ("json", "contains_json"):
                spec[col] = True
            else:
                spec[col] = val
        prompt, _ = _input(where, {"input": row.get("input")})
        cases.append(Case(cid, prompt, [], meta, _checks(where, spec)))
    return cases


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


def _promptfoo(p: Path, text: str) -> list[Case]:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        doc = YAML(typ="safe").load(text)
    except YAMLError as exc:
        raise DatasetError(f"{p}: not YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("tests"), list):
        raise DatasetError(f"{p}: a promptfoo file needs a `tests` list")
    prompts = doc.get("prompts") or []
    if isinstance(prompts, str):
        prompts = [prompts]
    template = prompts[0] if prompts and isinstance(prompts[0], str) else None
    if prompts and template is None:
        raise DatasetError(f"{p}: only prompts written as text are supported (prompts[0] is not a string)")
    defaults = (doc.get("defaultTest") or {}).get("assert") or []
    cases: list[Case] = []
    for i, test in enumerate(doc["tests"]):
        if not isinstance(test, dict):
            raise DatasetError(f"{p}: tests[{i}] must be a mapping")
        cid = str(test.get("description") or test.get("id") or f"test-{i + 1}")
        where = f"{p}: tests[{i}] ({cid!r})"
        vars_ = {str(k): v for k, v in (test.get("vars") or {}).items()}
        if template is not None:
            prompt = _fill(where, vars_, template)
        else:
            prompt = next((str(vars_[k]) for k in ("input", "prompt", "question") if k in vars_), "")
        if not prompt.strip():
            raise DatasetError(f"{where}: no input (give `prompts` or a var named input, prompt or question)")
        checks = [_assert(where, a) for a in [*defaults, *(test.get("assert") or [])]]
        meta = test.get("metadata") or {}
        cases.append(Case(cid, prompt, [], {str(k): str(v) for k, v in meta.items()}, checks))
    return cases


def _fill(where: str, vars_: dict[str, Any], template: str) -> str:
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: _var(where, vars_, m.group(1)), template)


def _var(where: str, vars_: dict[str, Any], name: str) -> str:
    if name not in vars_:
        raise DatasetError(f"{where}: the prompt uses {{{{{name}}}}} but the test has no var {name!r}")
    return str(vars_[name])


def _assert(where: str, a: Any) -> Check:
    if not isinstance(a, dict) or "type" not in a:
        raise DatasetError(f"{where}: each assert needs a `type`")
    kind = str(a["type"])
    if kind in _CODE_ASSERTS:
        raise DatasetError(
            f"{where}: assert type {kind!r} runs {kind} code, which workbench does not execute",
            hint="rewrite it as regex, contains, is-json or llm-rubric",
        )
    if kind not in _PROMPTFOO:
        raise DatasetError(
            f"{where}: unsupported assert type {kind!r}", hint=f"supported: {', '.join(sorted(_PROMPTFOO))}"
        )
    ours, insensitive = _PROMPTFOO[kind]
    value = a.get("value", True)
    extra: dict[str, Any] = {"ignore_case": insensitive}
    if ours in ("max_cost_usd", "max_latency_ms"):
        value = a.get("threshold", a.get("value"))
    elif ours == "judge":
        extra["threshold"] = a.get("threshold", 0.7)
    elif ours == "json" and isinstance(a.get("value"), dict):
        ours = "json_schema"
    return _make(where, ours, value, **extra)
