"""Loading and saving profile files.

`load_profile(path)` reads a YAML profile through ruamel.yaml's round-trip mode, validates it into a `Profile`
and returns it with the exact text and its sha256 (a run records which profile version it used). Anything
wrong raises `ProfileError` whose `.problems` holds every problem found, each as
`FILE:LINE:COL: field.path: what is wrong (expected …)`.

`save_profile(...)` sets values at paths in the round-trip document, so comments, key order and layout of the
untouched lines survive; it validates the result first and writes atomically, so a bad update never reaches
the file. `missing_env(profile)` names the environment variables a profile needs but the process lacks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from workbench.accounting.prices import select_price
from workbench.errors import ProfileError
from workbench.profiles.models import Profile
from workbench.profiles.problems import locate, node_pos, problems_from_errors
from workbench.profiles.read_guard import FileTooLarge, NotRegularFile, read_regular_file
from workbench.profiles.steps import step_targets
from workbench.profiles.upgrade import upgrade_text, version_note
from workbench.profiles.yaml_doc import (
    DELETE,
    MAX_NODES,
    Unplain,
    dump,
    line_of_offset,
    make_yaml,
    one_problem,
    parse,
    plain,
    set_path,
    unbuildable,
)

__all__ = [
    "DELETE",
    "MAX_PROFILE_BYTES",
    "LoadedProfile",
    "load_profile",
    "loads_profile",
    "missing_env",
    "save_profile",
    "upgrade_profile",
]

MAX_PROFILE_BYTES = 5 * 1024 * 1024
STRING_LABEL = "<string>"


@dataclass(frozen=True)
class LoadedProfile:
    profile: Profile
    path: Path | None
    text: str
    sha256: str  # hex digest of the exact file text (UTF-8)
    notes: tuple[str, ...] = ()  # e.g. "read as v2" for a v1 file; `profile check` prints them
    warnings: tuple[str, ...] = ()  # loads, but will surprise at run time (a target with no price in force)

    @property
    def label(self) -> str:
        return str(self.path) if self.path is not None else STRING_LABEL

    def position(self, path: tuple[str | int, ...]) -> tuple[int, int]:
        """1-based (line, column) of the key or value at `path` in the file (the nearest enclosing one)."""
        doc = parse(make_yaml(self.text), self.text, self.label)
        if doc is None:
            return 1, 1
        pos, _, _ = locate(doc, path)
        return pos

    def where(self, path: tuple[str | int, ...]) -> str:
        """`FILE:LINE:COL: dotted.path` for messages about a place in this profile."""
        line, col = self.position(path)
        return f"{self.label}:{line}:{col}: {'.'.join(str(p) for p in path)}"


# --- loading ---------------------------------------------------------------------------------------------------


def _first_content_line(text: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith(("#", "---", "%")):
            return number
    return 1


def _too_large(label: str, size: int) -> ProfileError:
    return one_problem(label, (1, 1), "(file)", f"{size / 2**20:.1f} MB is too large (expected a profile under 5 MB)")


def _validate(text: str, label: str) -> Profile:
    return _validate_with_notes(text, label)[0]


def _validate_with_notes(text: str, label: str) -> tuple[Profile, list[str], list[str]]:
    size = len(text.encode("utf-8"))
    if size > MAX_PROFILE_BYTES:
        raise _too_large(label, size)
    fast = _validate_fast(text, label)
    if fast is not None:
        return fast
    doc = parse(make_yaml(text), text, label)
    if doc is None:
        raise one_problem(
            label, (1, 1), "(file)", "the file is empty (expected a mapping with providers, models and routes)"
        )
    if not isinstance(doc, CommentedMap):
        kind = "a list" if isinstance(doc, CommentedSeq) else f"the value {doc!r}"
        pos = node_pos(doc) if isinstance(doc, CommentedSeq) else (_first_content_line(text), 1)
        raise one_problem(label, pos, "(profile)", f"expected a mapping with providers, models and routes, got {kind}")
    try:
        data = plain(doc, [MAX_NODES])
    except Unplain as err:
        what = str(err)
        pos = node_pos(doc)
        if "used as a key" in what:
            pos, what = unbuildable(make_yaml(text), text)
        raise one_problem(label, pos, "(yaml)", what) from None
    notes = [n for n in (version_note(label, data),) if n]
    try:
        profile = Profile.model_validate(data)
    except ValidationError as err:
        problems = problems_from_errors(label, doc, [dict(e) for e in err.errors(include_url=False)])
        unknown_field = any("unknown field" in p for p in problems)
        hint = "`workbench profile schema` lists every field" if unknown_field else None
        raise ProfileError("\n".join(problems), problems=problems, hint=hint) from None
    return profile, notes, price_warnings(profile, label, doc) + template_problems(profile, label, doc)


def _validate_fast(text: str, label: str) -> tuple[Profile, list[str], list[str]] | None:
    """The fast path (`fast_yaml.py`: libyaml, no round-trip tree) for a profile that is valid; None when anything
    is wrong or unusual, and the round-trip path below then validates again and locates every problem."""
    from workbench.profiles.fast_yaml import fast_plain

    data = fast_plain(text)
    if not isinstance(data, dict):
        return None
    try:
        profile = Profile.model_validate(data)
    except ValidationError:
        return None
    notes = [n for n in (version_note(label, data),) if n]
    parsed: list[Any] = []

    def doc() -> Any:  # the round-trip tree, parsed once and only to place a warning
        if not parsed:
            parsed.append(parse(make_yaml(text), text, label))
        return parsed[0]

    return profile, notes, price_warnings(profile, label, doc) + template_problems(profile, label, doc)


def price_warnings(profile: Profile, label: str, doc: Any, on: dt.date | None = None) -> list[str]:
    """A model some route calls, not declared `free: true`, with no price in force on `on` (default today): its
    calls would cost $0 and slip past every cost cap. A warning at load (the engine refuses it under a cap).
    `doc` is the round-trip document, or a function that parses it (called only to place a warning)."""
    day = on or dt.date.today()
    used: set[str] = set()
    for route in profile.routes.values():
        for _, step in route.all_steps():
            used.update(step_targets(step))
    out: list[str] = []
    for alias, model in profile.models.items():
        if alias not in used or model.free or select_price(model.prices, day) is not None:
            continue
        if callable(doc):
            doc = doc()
        if model.prices:
            first = min(p.effective for p in model.prices)
            why = f"no price in force on {day.isoformat()} (the earliest entry is effective {first.isoformat()})"
            fix = "fix the `effective` date, add an entry in force, or declare `free: true`"
            pos, shown, _ = locate(doc, ("models", alias, "prices"))
        else:
            why, fix = "no prices", "add `prices`, or declare `free: true`"
            pos, shown, _ = locate(doc, ("models", alias))
        out.append(
            f"{label}:{pos[0]}:{pos[1]}: {'.'.join(map(str, shown))}: {why}; its calls would be costed at $0 and are"
            f" refused under a cost cap ({fix})"
        )
    return out


def _readable_before(route: Any) -> dict[str, tuple[dict[str, str], bool]]:
    """Per step name: the route's steps whose results it cannot read (name -> why) and whether a retrieve step
    may have filled `docs` before it. A step can read an earlier step of its own list or of an enclosing list, the
    route step it is in, and what an earlier route step's branches may have run; never a later step, one in
    another branch, itself, or a child of a parallel step (children's results are not kept by name)."""
    from workbench.profiles.steps import ParallelStep, RetrieveStep, RouteStep, walk_steps

    order = {step.name: i for i, (_, step) in enumerate(route.all_steps())}
    branch_of: dict[str, str] = {}  # a step inside a branch -> the route step that owns the branch
    children: dict[str, str] = {}  # a parallel step's child -> the parallel step
    before: dict[str, tuple[frozenset[str], bool]] = {}

    def walk(steps: list[Any], seen: frozenset[str], docs: bool, owner: str | None) -> tuple[frozenset[str], bool]:
        for step in steps:
            before[step.name] = (seen, docs)
            if owner is not None:
                children[step.name] = owner
            if isinstance(step, RouteStep):
                inner, inner_docs = seen | {step.name}, docs
                for branch in step.branches.values():
                    for _, sub in walk_steps(branch):
                        branch_of.setdefault(sub.name, step.name)
                    got, got_docs = walk(branch, seen | {step.name}, docs, owner)
                    inner, inner_docs = inner | got, inner_docs or got_docs
                if owner is None:
                    seen, docs = inner, inner_docs
            elif isinstance(step, ParallelStep) and step.steps:
                walk(step.steps, seen, docs, step.name)
                if owner is None:
                    seen = seen | {step.name}
            elif owner is None:
                seen = seen | {step.name}
                docs = docs or isinstance(step, RetrieveStep)
        return seen, docs

    walk(route.steps, frozenset(), False, None)
    out: dict[str, tuple[dict[str, str], bool]] = {}
    for name, (seen, docs) in before.items():
        why: dict[str, str] = {}
        for other in order:
            if other in seen:
                continue
            if other == name:
                why[other] = "that is this step itself"
            elif children.get(name) == other:
                why[other] = f"parallel step {other!r} encloses this one; its result is set only when it ends"
            elif other in children:
                why[other] = (
                    f"{other!r} is a child of parallel step {children[other]!r}, whose children's results are not kept"
                    f" by name (read `steps.{children[other]}.output`)"
                )
            elif order[other] > order[name]:
                why[other] = f"step {other!r} runs after this one"
            else:
                why[other] = f"step {other!r} is in another branch of route step {branch_of.get(other, '?')!r}"
        out[name] = (why, docs)
    return out


TEMPLATE_FIELDS = ("system", "prompt", "template", "query", "feedback")


def template_problems(profile: Profile, label: str, doc: Any) -> list[str]:
    """Warnings for templates that read what no run can provide where they render (see `template_warnings`).
    `doc` is the round-trip document, or a function that parses it (called only to place a warning)."""
    from workbench.profiles.templates import template_warnings

    out: list[str] = []
    for rname, route in profile.routes.items():
        readable = _readable_before(route)
        for path, step in route.all_steps():
            unavailable, docs = readable.get(step.name, ({}, True))
            for field_name in TEMPLATE_FIELDS:
                text = getattr(step, field_name, None)
                if not isinstance(text, str):
                    continue
                for words in template_warnings(text, unavailable, docs):
                    if callable(doc):
                        doc = doc()
                    pos, shown, _ = locate(doc, ("routes", rname, "steps", *path, field_name))
                    out.append(f"{label}:{pos[0]}:{pos[1]}: {'.'.join(map(str, shown))}: {words}")
    return out


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def loads_profile(text: str, path: str | os.PathLike[str] | None = None) -> LoadedProfile:
    """Validate profile `text`; `path` (if given) only names the file in messages and in the result."""
    label = str(path) if path is not None else STRING_LABEL
    profile, notes, warnings = _validate_with_notes(text, label)
    where = Path(path) if path is not None else None
    return LoadedProfile(profile, where, text, _sha256(text), tuple(notes), tuple(warnings))


def _os_error_words(err: OSError) -> str:
    if isinstance(err, FileNotFoundError):
        return "no such file (expected a YAML profile, e.g. profiles/demo.yaml)"
    if isinstance(err, IsADirectoryError):
        return "is a directory (expected a YAML profile file)"
    if isinstance(err, PermissionError):
        return "permission denied (expected a readable file)"
    return f"cannot read: {err.strerror or err} (expected a readable file)"


def _read_text(path: Path) -> str:
    """The file's text. Only a regular file is read (a device such as /dev/zero, or a FIFO, would be read
    without end or block), opened without blocking, and never more than the size limit (`read_guard.py`)."""
    label = str(path)
    try:
        data = read_regular_file(path, MAX_PROFILE_BYTES)
    except NotRegularFile as err:
        raise one_problem(
            label, (1, 1), "(file)", f"is {err.what}, not a regular file (expected a YAML profile)"
        ) from None
    except FileTooLarge as err:
        raise _too_large(label, err.size) from None
    except OSError as err:
        raise one_problem(label, (1, 1), "(file)", _os_error_words(err)) from None
    try:
        # Decoded byte for byte (no newline translation), so `text` hashes to the file's own sha256.
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        before = data[: err.start].decode("utf-8", "replace")
        line, col = line_of_offset(before, len(before))
        what = f"byte 0x{data[err.start]:02x} is not UTF-8 (expected UTF-8 text)"
        raise one_problem(label, (line, col), "(file)", what) from None


def load_profile(path: str | os.PathLike[str]) -> LoadedProfile:
    """Read and validate the profile at `path`."""
    path = Path(path)
    return loads_profile(_read_text(path), path)


# --- environment -----------------------------------------------------------------------------------------------


def missing_env(profile: Profile, environ: Mapping[str, str] = os.environ) -> list[str]:
    """Env vars that providers needing a key reference (api_key_env, ${NAME} in headers) but that are unset or
    empty (a kind whose plugin needs no key, the simulator, is skipped)."""
    missing: list[str] = []
    for provider in profile.providers.values():
        if not provider.plugin.needs_key:
            continue
        for name in sorted(provider.env_refs()):
            if not environ.get(name) and name not in missing:
                missing.append(name)
    return missing


# --- saving ----------------------------------------------------------------------------------------------------


def _write_atomic(path: Path, text: str) -> None:
    path = Path(os.path.realpath(path))  # a symlinked profile: its target is rewritten, the link stays a link
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_profile(
    loaded_or_path: LoadedProfile | str | os.PathLike[str],
    updates: Mapping[tuple[str | int, ...], Any],
    dest: str | os.PathLike[str] | None = None,
) -> str:
    """Apply `updates` ({("routes", "default", "max_cost_usd"): Decimal("0.01"), ...}) and write the profile.

    Mappings on the way are created as needed; an index equal to a list's length appends; the value `DELETE`
    removes the entry. Comments, key order and untouched lines are kept. The result is validated first: an
    invalid result raises ProfileError and nothing is written. Writes to `dest`, else to the loaded file (which
    must not have changed on disk since it was loaded); with neither, only returns the new text.
    """
    if isinstance(loaded_or_path, LoadedProfile):
        origin, text, loaded_sha = loaded_or_path.path, loaded_or_path.text, loaded_or_path.sha256
    else:
        origin = Path(loaded_or_path)
        text, loaded_sha = _read_text(origin), None
    target = Path(dest) if dest is not None else origin
    label = str(origin or target or STRING_LABEL)
    yaml = make_yaml(text)
    doc = parse(yaml, text, label)
    if doc is None:
        doc = CommentedMap()
    if not isinstance(doc, CommentedMap):
        raise one_problem(
            label,
            node_pos(doc),
            "(profile)",
            "the top level is not a mapping (expected a mapping with providers, models and routes)",
        )
    for path, value in updates.items():
        set_path(doc, tuple(path), value, label)
    new_text = dump(yaml, doc, text)
    shown = str(target) if target is not None else label
    try:
        _validate(new_text, shown)
    except ProfileError as err:
        raise ProfileError(err.message, problems=err.problems, hint=f"not saved: {shown} is unchanged") from None
    if target is None:
        return new_text
    if loaded_sha is not None and target == origin and target.exists():
        if _sha256(_read_text(target)) != loaded_sha:
            what = (
                "changed on disk since it was loaded (expected the version that was loaded; load it again and "
                "repeat the change)"
            )
            raise one_problem(str(target), (1, 1), "(file)", what, hint="not saved")
    _write_atomic(target, new_text)
    return new_text


# --- upgrading -------------------------------------------------------------------------------------------------


def upgrade_profile(path: str | os.PathLike[str]) -> bool:
    """Rewrite the profile at `path` as the current format version, keeping comments and key order. The result
    is validated before anything is written (atomically). False when the file already was current."""
    path = Path(path)
    text = _read_text(path)
    new_text = upgrade_text(text, str(path))
    if new_text == text:
        return False
    try:
        _validate(new_text, str(path))
    except ProfileError as err:
        raise ProfileError(err.message, problems=err.problems, hint=f"not upgraded: {path} is unchanged") from None
    _write_atomic(path, new_text)
    return True
