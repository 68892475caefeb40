"""Editing a profile as text that keeps its comments: the one engine behind the route composer and the headless
`workbench profile set` / `profile add-target` commands, so the TUI and a script make byte-identical edits.

A `ProfileEditor` holds the text as loaded and the text as edited. Each operation (set a value, insert into a
list, move an item, delete) is applied to ruamel's round-trip tree — untouched lines, comments and key order
survive — then the whole result is validated with the same loader `workbench profile check` uses, so an invalid
edit raises the same `FILE:LINE:COL: path: what` ProfileError and changes nothing. Edits can be undone and
redone. `diff()` shows the change as a unified diff; `save()` refuses to overwrite a file changed on disk since
it was loaded (unless told to), keeps a backup of the previous version, and writes atomically.

Paths are dotted (`routes.default.steps.0.targets`); a segment after `steps` (or after a branch name) may be a
step's *name* instead of its index: `routes.default.steps.answer.targets.1`.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from workbench.errors import ProfileError
from workbench.profiles.files import profile_lock, save_text
from workbench.profiles.load import LoadedProfile, _read_text, load_profile, loads_profile
from workbench.profiles.yaml_doc import DELETE, dump, make_yaml, one_problem, parse, set_path, to_yaml_value

Path_ = tuple[str | int, ...]


def parse_value(text: str) -> Any:
    """A command-line value as YAML: `0.6`, `true`, `[swift, steady]`, `{max_attempts: 3}`, or plain text."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    try:
        value = yaml.load(text)
    except Exception:  # noqa: BLE001 - anything that is not YAML is taken as the text itself
        return text
    return text if value is None and text.strip() not in ("null", "~", "") else value


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class ProfileEditor:
    """Edits to one profile file, validated as they are made; nothing touches the disk until `save()`."""

    path: Path
    original: str
    text: str
    loaded: LoadedProfile
    _undo: list[str] = field(default_factory=list)
    _redo: list[str] = field(default_factory=list)
    _parsed: tuple[str, CommentedMap] | None = field(default=None, repr=False, compare=False)
    backup_path: Path | None = field(default=None, compare=False)  # where the last save kept the previous version

    @classmethod
    def open(cls, path: str | Path) -> ProfileEditor:
        loaded = load_profile(path)
        return cls(path=Path(path), original=loaded.text, text=loaded.text, loaded=loaded)

    def probe(self) -> ProfileEditor:
        """A copy to try an edit on (validation as you type): same text, its parse shared, no undo history."""
        copy = ProfileEditor(self.path, self.original, self.text, self.loaded)
        copy._parsed = self._parsed
        return copy

    # -- state --------------------------------------------------------------------------------------------------
    @property
    def modified(self) -> bool:
        return self.text != self.original

    @property
    def label(self) -> str:
        return str(self.path)

    def current(self) -> LoadedProfile:
        """The edited profile, loaded (what the playground runs before saving)."""
        return self.loaded

    # -- paths --------------------------------------------------------------------------------------------------
    def resolve_path(self, dotted: str | Path_) -> Path_:
        """Turn `routes.default.steps.answer.targets.1` into keys and indexes, step names into their index."""
        parts: list[str | int] = list(dotted) if isinstance(dotted, tuple) else _split(dotted, self.label)
        doc = self._doc()
        node: Any = doc
        out: list[str | int] = []
        for i, seg in enumerate(parts):
            if isinstance(node, CommentedSeq):
                if isinstance(seg, str) and seg.lstrip("-").isdigit():
                    seg = int(seg)
                elif isinstance(seg, str):
                    names = [item.get("name") if isinstance(item, CommentedMap) else None for item in node]
                    if seg not in names:
                        where = ".".join(str(p) for p in out) or "(profile)"
                        known = ", ".join(str(n) for n in names if n) or "none"
                        raise one_problem(self.label, (1, 1), where, f"no step named {seg!r} here (steps: {known})")
                    seg = names.index(seg)
            out.append(seg)
            if i < len(parts) - 1:
                if isinstance(node, CommentedMap):
                    node = node.get(seg)
                elif isinstance(node, CommentedSeq) and isinstance(seg, int) and 0 <= seg < len(node):
                    node = node[seg]
                else:
                    node = None
        return tuple(out)

    # -- operations ---------------------------------------------------------------------------------------------
    def set(self, dotted: str | Path_, value: Any) -> str:
        """Set the value at a path (mappings on the way are created). Returns the new text."""
        path = self.resolve_path(dotted)
        return self._apply(lambda doc: set_path(doc, path, value, self.label))

    def delete(self, dotted: str | Path_) -> str:
        path = self.resolve_path(dotted)
        return self._apply(lambda doc: set_path(doc, path, DELETE, self.label))

    def insert(self, list_path: str | Path_, value: Any, at: int | None = None) -> str:
        """Insert into the list at `list_path` (at the end when `at` is None)."""
        path = self.resolve_path(list_path)

        def op(doc: CommentedMap) -> None:
            from workbench.profiles.yaml_doc import keep_trailing_lines_last

            seq = _node(doc, path)
            if not isinstance(seq, CommentedSeq):
                raise one_problem(self.label, (1, 1), ".".join(map(str, path)), "is not a list (expected a list)")
            index = len(seq) if at is None else at
            if not 0 <= index <= len(seq):
                raise one_problem(
                    self.label, (1, 1), ".".join(map(str, path)), f"position {index} is outside 0..{len(seq)}"
                )
            if index == len(seq):
                keep_trailing_lines_last(seq, lambda: seq.append(to_yaml_value(value)))
            else:
                seq.insert(index, to_yaml_value(value))

        return self._apply(op)

    def move(self, list_path: str | Path_, src: int, dst: int) -> str:
        """Move an item of a list (e.g. reorder a fallback chain)."""
        path = self.resolve_path(list_path)

        def op(doc: CommentedMap) -> None:
            seq = _node(doc, path)
            if not isinstance(seq, CommentedSeq) or not (0 <= src < len(seq) and 0 <= dst < len(seq)):
                raise one_problem(self.label, (1, 1), ".".join(map(str, path)), f"cannot move item {src} to {dst}")
            item = seq[src]
            del seq[src]
            seq.insert(dst, item)

        return self._apply(op)

    def rename_route(self, old: str, new: str) -> str:
        """Rename a route in place (same position, comments kept); `default_route` follows it."""

        def op(doc: CommentedMap) -> None:
            routes = doc.get("routes")
            if not isinstance(routes, CommentedMap) or old not in routes:
                raise one_problem(self.label, (1, 1), f"routes.{old}", "no such route")
            if new in routes:
                raise one_problem(self.label, (1, 1), f"routes.{new}", "a route of that name exists already")
            position = list(routes).index(old)
            value = routes[old]
            comment = routes.ca.items.pop(old, None)
            del routes[old]
            routes.insert(position, new, value)
            if comment is not None:
                routes.ca.items[new] = comment
            if doc.get("default_route") == old:
                doc["default_route"] = new

        return self._apply(op)

    def apply_many(self, changes: Sequence[tuple[str | Path_, Any]]) -> str:
        """Several sets (value `DELETE` removes the key) as ONE validated, undoable edit: a change that is only
        valid as a whole (a route step's mode: drop `rules`, add `strong_weak`) never passes an invalid state."""
        paths = [(self.resolve_path(dotted), value) for dotted, value in changes]

        def op(doc: CommentedMap) -> None:
            for path, value in paths:
                set_path(doc, path, value, self.label)

        return self._apply(op)

    def clear(self, dotted: str | Path_, keep: int = 1) -> str:
        """Remove the key at `dotted` (back to inherited), and the mappings it leaves empty on the way up, but
        never the first `keep` segments of the path (the node being edited)."""
        path = self.resolve_path(dotted)

        def op(doc: CommentedMap) -> None:
            set_path(doc, path, DELETE, self.label)
            for depth in range(len(path) - 1, max(keep, 1) - 1, -1):
                parent = _node(doc, path[:depth])
                if isinstance(parent, CommentedMap) and not parent:
                    set_path(doc, path[:depth], DELETE, self.label)
                else:
                    break

        return self._apply(op)

    def raw(self, dotted: str | Path_) -> Any:
        """The value at a path as written in the file (ruamel's mapping/list/scalar), or None when absent."""
        return _node(self._doc(), self.resolve_path(dotted))

    def add_target(self, route: str, step: str, model: str, at: int | None = None) -> str:
        return self.insert(("routes", route, "steps", step, "targets"), model, at)

    def note(self, dotted: str | Path_, text: str, *, replace_prefix: str | None = None) -> bool:
        """Put `# text` at the end of the line holding the value at `dotted` (validated, undoable). A comment already
        on that line is kept and nothing is added (False), unless it starts with `replace_prefix` (an older note of
        the same kind), which is replaced."""
        if "\n" in text:
            raise ValueError("a note is one line")
        path = self.resolve_path(dotted)
        line, _ = self.loaded.position(path)
        lines = self.text.split("\n")
        body = lines[line - 1]
        if " #" in body:
            head, _, old = body.partition(" #")
            if replace_prefix is None or not old.strip().startswith(replace_prefix):
                return False
            body = head.rstrip()
        new_text = "\n".join([*lines[: line - 1], f"{body}  # {text}", *lines[line:]])
        try:
            loaded = loads_profile(new_text, self.path)
        except ProfileError:
            return False  # a comment cannot go there (e.g. inside a multi-line flow collection)
        self._undo.append(self.text)
        self._redo.clear()
        self.text, self.loaded = new_text, loaded
        return True

    def undo(self) -> bool:
        if not self._undo:
            return False
        self._redo.append(self.text)
        self._set_text(self._undo.pop())
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        self._undo.append(self.text)
        self._set_text(self._redo.pop())
        return True

    # -- output -------------------------------------------------------------------------------------------------
    def diff(self) -> str:
        return "".join(
            difflib.unified_diff(
                self.original.splitlines(keepends=True),
                self.text.splitlines(keepends=True),
                fromfile=f"{self.label} (on disk)",
                tofile=f"{self.label} (edited)",
            )
        )

    def changed_on_disk(self) -> bool:
        try:
            return _sha(_read_text(self.path)) != _sha(self.original)
        except ProfileError:
            return True

    def save(self, dest: str | Path | None = None, *, force: bool = False, backup: bool = True) -> Path:
        """Write the edited text. Refuses (ProfileError) if the file changed on disk, unless `force`; or if it
        cannot be written (read-only, full disk: then nothing changed). Under the file's edit lock, through a
        symlink to its target, atomically, keeping the previous version as `.bak` (see profiles/files.py)."""
        target = Path(dest) if dest is not None else self.path
        with profile_lock(target):
            if target == self.path and not force and self.changed_on_disk():
                raise one_problem(
                    str(target),
                    (1, 1),
                    "(file)",
                    "changed on disk since it was loaded (reload it, overwrite it, or save as another file)",
                    hint="not saved",
                )
            self.backup_path = save_text(target, self.text, backup=backup)
        if target == self.path:
            self.original = self.text
        return target

    def reload(self) -> None:
        """Drop the edits and read the file again."""
        fresh = load_profile(self.path)
        self.original = self.text = fresh.text
        self.loaded = fresh
        self._undo.clear()
        self._redo.clear()

    # -- internals ----------------------------------------------------------------------------------------------
    def _doc(self) -> CommentedMap:
        """The parsed text, for reading only (kept while the text is unchanged: a form reads it once per field)."""
        if self._parsed is not None and self._parsed[0] is self.text:
            return self._parsed[1]
        parsed = parse(make_yaml(self.text), self.text, self.label)
        doc = parsed if isinstance(parsed, CommentedMap) else CommentedMap()
        self._parsed = (self.text, doc)
        return doc

    def _apply(self, op: Any) -> str:
        yaml = make_yaml(self.text)
        doc = parse(yaml, self.text, self.label)
        if not isinstance(doc, CommentedMap):
            doc = CommentedMap()
        op(doc)
        new_text = dump(yaml, doc, self.text)
        loaded = loads_profile(new_text, self.path)  # raises ProfileError, with lines, and nothing changes
        self._undo.append(self.text)
        self._redo.clear()
        self.text, self.loaded = new_text, loaded
        return new_text

    def _set_text(self, text: str) -> None:
        self.loaded = loads_profile(text, self.path)
        self.text = text


def _split(dotted: str, label: str) -> list[str | int]:
    """`routes.default.steps.0` as its segments; an empty segment (`routes..default`, `.routes`, `routes.`) is a
    ProfileError naming the path, as a command-line mistake should be."""
    parts = dotted.split(".")
    if not all(parts):
        where = "at the start" if not parts[0] else "at the end" if not parts[-1] else "between two dots"
        raise one_problem(
            label,
            (1, 1),
            dotted or "(path)",
            f"is not a dotted path: an empty segment {where}",
            hint="write it as KEY.KEY.INDEX, e.g. routes.default.steps.answer.targets",
        )
    return [int(part) if part.isdigit() else part for part in parts]


def _node(doc: Any, path: Path_) -> Any:
    node = doc
    for seg in path:
        if isinstance(node, CommentedMap):
            node = node.get(seg)
        elif isinstance(node, CommentedSeq) and isinstance(seg, int) and 0 <= seg < len(node):
            node = node[seg]
        else:
            return None
    return node
