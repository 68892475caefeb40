"""The Textual front end: `make_app` in `workbench.tui.app` builds the workbench app (see that module)."""
