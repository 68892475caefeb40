"""The route composer: a tree of routes → steps → branches (and models, providers, profile-wide policies), a flow
view, and a form per selected node that edits the profile through `ProfileEditor`.

    screen.py   the Composer screen: tree, flow, form, title; selection
    editing.py  what each key, field and dialog does to the profile (validated dry runs, then real edits)
    fields.py   the rows of a form, built from the profile's pydantic models (no Textual)
    form.py     the form widget that lays the rows out
    modals.py   the diff before saving, name/pick dialogs, the new provider / new model forms

Keys: ctrl+s save (diff) · ctrl+z undo · ctrl+y redo · i add a step after the selection (g: a gate) · [ and ]
move the fallback chain · ctrl+up/ctrl+down/ctrl+r move or remove the list item of the focused field · n
duplicate the route · r rename it · delete remove the selected step/route/model/provider · m add a model · p add
a provider · esc back.
"""

from workbench.tui.composer.modals import AskName, ConfirmDiff, EntityForm, Pick
from workbench.tui.composer.screen import Composer, StepPath

__all__ = ["AskName", "Composer", "ConfirmDiff", "EntityForm", "Pick", "StepPath"]
