"""colosim's numerical core: colon body, scope rod, contacts, solver (numpy + numba; no I/O, no GL).

Follows the Model / State / step pattern of NVIDIA Warp's `warp/sim`: a static `Model`, a `State` of arrays that
change every step, and one `step(model, state, controls, dt)` function; builders turn assets into models.
"""

from physics.kernel_cache import configure_kernel_cache

configure_kernel_cache()
