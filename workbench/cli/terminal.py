"""Text from a model (or a provider's error, or an imported database) made safe to show on a terminal.

A model can answer escape sequences: `ESC ] 52 ; c ; … BEL` sets the clipboard, `ESC ] 0 ; … BEL` the window
title, `ESC [ 2 J` clears the screen, and a carriage return overwrites what a line said. Written raw to a
terminal they act, not show. `for_terminal` writes every control character but newline and tab as visible
text (`\\x1b`), so such a sequence is shown for what it is and does nothing. Character by character, with no
state: a sequence split across two streamed tokens is defused all the same. `\\r\\n` becomes `\\n`.

Used where text goes to a person: the answer streamed by `workbench run` on a terminal, the notes and tables on
stderr, `workbench sessions show/list/search` in their human form. Not in `--json` (JSON escapes control
characters itself) and not for an answer redirected to a file (`> answer.txt` keeps the model's bytes).
"""

from __future__ import annotations

_C0 = [cp for cp in range(0x20) if cp not in (0x09, 0x0A)]  # all but tab and newline
_C1 = list(range(0x80, 0xA0))  # 8-bit controls: 0x9b is a CSI, 0x9d an OSC, to terminals that honour them
_VISIBLE = {cp: f"\\x{cp:02x}" for cp in (*_C0, 0x7F, *_C1)}


def for_terminal(text: str | None) -> str:
    """`text` with each control character (tab and newline kept) written as visible `\\xNN` text."""
    if not text:
        return ""
    return text.replace("\r\n", "\n").translate(_VISIBLE)
