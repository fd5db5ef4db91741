"""colosim's outer layer: assets, devices, session loop, rendering, scoring, logs, scenarios and the CLI.

`sim` imports `physics`; `physics` never imports `sim` (see DESIGN.md, Layout).
"""

import physics  # noqa: F401  (first: it points numba's kernel cache at the current sources, physics/kernel_cache.py)

__version__ = "0.1.0"
