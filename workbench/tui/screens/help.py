"""The help screen (F1 or ?): every key of every screen, read from the bindings themselves so it cannot drift."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

INTRO = "\n".join(
    [
        "workbench — send prompts through a profile's routes and watch every hop.",
        "",
        "Playground: pick a route, write a prompt (Enter = new line, paste keeps every line), ctrl+s sends. The"
        " waterfall shows each hop on one time axis: ░ waiting for the first token, ▌ first token, █ streaming,"
        " ▷ still growing; ~ marks tokens and cost estimated until the provider's usage arrives. Enter on a hop"
        " opens its detail. The conversation continues until ctrl+l. Beside the route: meta (k=v pairs, e.g."
        " risk=high, read by routing rules and templates) and session (runs filed under it, its saved"
        " conversation continued).",
        "Compare: one prompt through 2–6 routes side by side; f cycles a column's fault, r repeats ×N, w re-prices"
        " a finished column at another model's prices.",
        "Sessions: every saved run, newest first (any number: only the rows on screen are read); N of TOTAL says"
        " which run the cursor is on (+ while counting). Type to search prompts and answers (last word a prefix);"
        " filters go in the same box: route:support status:error (ok, error, degraded, cancelled) model:sage"
        " session:NAME since:2026-05-01 until:2026-05-31 (UTC, inclusive) cost>0.001 (at least, in $); the two"
        " selects set the route and status too. Enter opens a run (its answer and waterfall as recorded); there r"
        " re-runs it (on its own route if the profile still has it, else the playground's) side by side with the"
        " differences. d deletes (asks first), e exports JSON.",
        "Eval: a dataset through several routes; pass rates with 95% intervals, latency, cost; x exports the best.",
        "Routes (composer): edit routes as a tree and a flow; edits are tried in the playground before ctrl+s saves"
        " them (a diff first, comments kept).",
        "ctrl+p opens the command palette: every action is there.",
        "",
    ]
)


_KEY_NAMES = {"question_mark": "?", "left_square_bracket": "[", "right_square_bracket": "]", "space": "space"}


def key_names(keys: str) -> str:
    """A binding's keys as a person writes them: `f1 / ?`, `ctrl+k / f3`."""
    return " / ".join(_KEY_NAMES.get(k.strip(), k.strip()) for k in keys.split(","))


def key_table(groups: list[tuple[str, list[BindingType]]]) -> str:
    lines = []
    for title, bindings in groups:
        lines.append(f"\n{title}")
        for b in bindings:
            if isinstance(b, Binding) and b.description:  # (a tuple binding has no description to show)
                lines.append(f"  {key_names(b.key):<26} {b.description}")
    return "\n".join(lines)


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90; max-width: 100%; height: 90%; border: round $primary; background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,q,f1,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        from workbench.tui.app import WorkbenchApp
        from workbench.tui.composer import Composer
        from workbench.tui.screens.compare import CompareScreen
        from workbench.tui.screens.eval import EvalScreen
        from workbench.tui.screens.playground import PlaygroundScreen
        from workbench.tui.screens.session_run import SessionRunScreen
        from workbench.tui.screens.sessions import SessionsScreen

        groups = [
            ("Everywhere", WorkbenchApp.BINDINGS),
            ("Playground", PlaygroundScreen.BINDINGS),
            ("Compare", CompareScreen.BINDINGS),
            ("Sessions", SessionsScreen.BINDINGS),
            ("Sessions: an opened run", SessionRunScreen.BINDINGS),
            ("Eval", EvalScreen.BINDINGS),
            ("Routes (composer)", Composer.BINDINGS),
        ]
        with VerticalScroll() as scroll:
            scroll.border_title = "help · keys"
            scroll.border_subtitle = "esc close"
            yield Static(INTRO + key_table(groups), markup=False, id="help-text")

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
