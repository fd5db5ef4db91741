"""Drivers: whatever produces one `ScopeControls` per physics step (DESIGN.md, "Controls, devices, recordings").

A driver is any callable ``driver(t_s: float, outputs: WorldOutputs) -> ScopeControls``: it sees the simulated time
and the last step's outputs (tip pose, coils, forces) and returns the next step's controls. Devices (keyboard,
gamepad) ignore the outputs; the autopilot (`sim.drivers.autopilot`) and the replay driver read them. A driver may
expose ``phase`` ("insertion", "withdrawal", "done") for the HUD and the recording's events.
"""
