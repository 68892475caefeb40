"""Profile format versions: reading a v1 file as v2, and rewriting it as v2 on disk.

Format v1 (one kind of step, targets as plain aliases, one cost cap) is a subset of v2, so a v1 file loads as
v2 unchanged; the loader only notes that it did (`version_note`), and `workbench profile check` prints the note.
`upgrade_text` rewrites the file's text as v2 through ruamel's round-trip mode: only the `version:` line changes
(or is added, after the header comment), so the user's comments, key order and layout are kept line for line.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml.comments import CommentedMap

from workbench.profiles.yaml_doc import dump, make_yaml, one_problem, parse

CURRENT_VERSION = 2


def file_version(doc: Any) -> int | None:
    """The `version:` a parsed file states (None when it states none)."""
    if isinstance(doc, dict) and "version" in doc:
        value = doc["version"]
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    return None


def version_note(label: str, data: Any) -> str | None:
    """A note for `profile check` when the file is not written as the current version."""
    if not isinstance(data, dict):
        return None
    if "version" not in data:
        return (
            f"{label}: no `version:` line, read as a version {CURRENT_VERSION} profile; "
            f"`workbench profile upgrade {label}` adds `version: {CURRENT_VERSION}`"
        )
    if data.get("version") == 1:
        return f"{label}: version 1 profile read as v{CURRENT_VERSION}; `workbench profile upgrade {label}` rewrites it"
    return None


def upgrade_text(text: str, label: str) -> str:
    """`text` rewritten as the current version (unchanged if it already is), comments and order kept."""
    yaml = make_yaml(text)
    doc = parse(yaml, text, label)
    if not isinstance(doc, CommentedMap):
        raise one_problem(label, (1, 1), "(profile)", "expected a mapping with providers, models and routes")
    if doc.get("version") == CURRENT_VERSION:
        return text
    if "version" in doc:
        doc["version"] = CURRENT_VERSION
    else:
        doc.insert(0, "version", CURRENT_VERSION)
    return dump(yaml, doc, text)
