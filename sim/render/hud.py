"""The HUD panel: session status (time, phase, inserted length, wheels, insufflation, forces), a panel of live
score lines (whatever dict of lines the scorer hands over), panel captions and the F1 help overlay.

Text is pyglet labels drawn into the composite frame; the labels are made once and only their text changes.
"""

from __future__ import annotations

import pyglet

from sim.session.snapshot import HudState

FONT_SIZE = 10
TEXT_RGBA = (225, 230, 235, 255)
TITLE_RGBA = (140, 200, 255, 255)


class Hud:
    """Labels laid out in the composite frame: status at (x, y) of the panel, scores to its right, captions."""

    def __init__(self, panel_xywh: tuple[int, int, int, int], captions: list[tuple[str, int, int]],
                 help_xywh: tuple[int, int, int, int], help_text: str):
        x, y, w, h = panel_xywh
        self.batch = pyglet.graphics.Batch()
        self.help_batch = pyglet.graphics.Batch()
        line = int(FONT_SIZE * 1.6)
        status_w = int(w * 0.5)
        self.background = pyglet.shapes.Rectangle(x, y, w, h, color=(18, 20, 26), batch=self.batch)
        self.status = pyglet.text.Label("", font_size=FONT_SIZE, x=x + 8, y=y + h - 6, width=status_w - 16,
                                        multiline=True, anchor_y="top", color=TEXT_RGBA, batch=self.batch,
                                        font_name="monospace")
        self.scores_title = pyglet.text.Label("scores", font_size=FONT_SIZE, x=x + status_w, y=y + h - 6,
                                              anchor_y="top", color=TITLE_RGBA, batch=self.batch, weight="bold")
        self.scores = pyglet.text.Label("", font_size=FONT_SIZE - 1, x=x + status_w, y=y + h - 6 - line,
                                        width=w - status_w - 8, multiline=True, anchor_y="top", color=TEXT_RGBA,
                                        batch=self.batch, font_name="monospace")
        self.captions = [pyglet.text.Label(text, font_size=FONT_SIZE, x=cx, y=cy, anchor_y="top",
                                           color=TITLE_RGBA, batch=self.batch) for text, cx, cy in captions]
        hx, hy, hw, hh = help_xywh
        self.help_background = pyglet.shapes.Rectangle(hx, hy, hw, hh, color=(0, 0, 0), batch=self.help_batch)
        self.help_background.opacity = 200
        self.help = pyglet.text.Label(help_text, font_size=FONT_SIZE, x=hx + 12, y=hy + hh - 10, width=hw - 24,
                                      multiline=True, anchor_y="top", color=TEXT_RGBA, batch=self.help_batch,
                                      font_name="monospace")
        self._last = None

    def update(self, state: HudState) -> None:
        status = "\n".join(state.status_lines())
        scores = "\n".join(f"{k}: {v}" for k, v in state.scores.items()) or "(no scores yet)"
        if (status, scores) != self._last:
            self.status.text = status
            self.scores.text = scores
            self._last = (status, scores)

    def draw(self, show_help: bool = False) -> None:
        self.batch.draw()
        if show_help:
            self.help_batch.draw()
