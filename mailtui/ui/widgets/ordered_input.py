"""An Input whose editing keys keep their place among typed characters.

Textual's Input inserts printable characters in its key handler but runs its bound keys
(backspace, ctrl+u, ctrl+w, arrows, home, enter...) later, as the event bubbles up to the app. When
keys arrive in one burst (a paste through the terminal, a fast typist over SSH, tmux send-keys),
characters typed after an editing key are inserted before that key's action runs: `/`, ctrl+u,
`to:bob` ends as an empty filter, because ctrl+u then deletes what was just typed. Upstream:
Textualize/textual#6605 (fix proposed in #6631). Until it is fixed there, this widget runs its own
bindings inline, in order.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input


class OrderedInput(Input):
    """Input that applies its own key bindings at once, in the order the keys came."""

    async def _on_key(self, event: events.Key) -> None:
        for key in (event.key, *event.aliases):
            bindings = self._bindings.key_to_bindings.get(key)
            binding = next((b for b in bindings or () if not b.priority), None)
            if binding is None:
                continue
            if self.check_action(binding.action, ()) is False:
                break  # disabled here: leave the key to the widgets above
            event.stop()
            event.prevent_default()
            await self.run_action(binding.action)
            return
        await super()._on_key(event)
