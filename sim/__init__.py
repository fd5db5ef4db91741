"""colosim's outer layer: assets, devices, session loop, rendering, scoring, logs, scenarios and the CLI.

`sim` imports `physics`; `physics` never imports `sim` (see DESIGN.md, Layout).
"""

__version__ = "0.1.0"
