"""The session store: every run, hop, message and decision saved to SQLite, searchable and exportable.

    from workbench.store import open_store, EventWriter, save_events
    writer = EventWriter(db_path_or_None, session="tuning", profile=loaded_profile)
    writer.submit(event) ...; writer.close()
    with open_store() as store: store.list_runs(); store.search("refund")

The database is plain SQLite built with sqlite-utils: it opens in `sqlite-utils` and Datasette as-is (see
QUERIES.md in this folder). This package imports the engine's event types and nothing else of the engine.
"""

from workbench.store.browse import STATUSES, RunFilter
from workbench.store.db import DEFAULT_DB, ENV_VAR, resolve_db_path
from workbench.store.queries import HIGHLIGHT_END, HIGHLIGHT_START, RunDetail, UnknownRunError
from workbench.store.store import Store, open_store, save_events
from workbench.store.writer import EventWriter

__all__ = [
    "DEFAULT_DB",
    "ENV_VAR",
    "EventWriter",
    "HIGHLIGHT_END",
    "HIGHLIGHT_START",
    "RunDetail",
    "RunFilter",
    "STATUSES",
    "Store",
    "UnknownRunError",
    "open_store",
    "resolve_db_path",
    "save_events",
]
