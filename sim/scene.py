"""A scene: a colon asset and a scope model turned into one physics world (the builder step of DESIGN.md).

`build_scene(asset, spec)` is the one place where an asset becomes a `ColonBodyModel` and a scope file a
`RodModel`, joined into a `WorldModel`; sessions, the autopilot, replays, tests and benches all start here.
"""

from __future__ import annotations

from dataclasses import dataclass

from physics.colon_body import ColonBodyModel, build_colon_body
from physics.scope_rod import RodModel, ScopeSpec, build_rod
from physics.world import WorldModel, build_world
from sim.colon.asset import SEGMENT_NAMES, ColonAsset
from sim.colon.procedural import generate_colon
from sim.scope_file import load_scope


@dataclass(frozen=True)
class Scene:
    """asset: the colon asset (render mesh, centreline, landmarks); spec: the scope; world: the physics model."""

    asset: ColonAsset
    spec: ScopeSpec
    world: WorldModel

    @property
    def colon(self) -> ColonBodyModel:
        return self.world.colon

    @property
    def rod(self) -> RodModel:
        return self.world.rod


def build_scene(asset: ColonAsset | None = None, spec: ScopeSpec | None = None, *, seed: int = 0) -> Scene:
    """The world of `asset` (default: the procedural colon of `seed`) and `spec` (default: the bundled adult
    colonoscope)."""
    if asset is None:
        asset = generate_colon(seed)
    if spec is None:
        spec = load_scope()
    colon = build_colon_body(asset.centreline_m, asset.s_m, asset.normal, asset.binormal, asset.theta_rad,
                             asset.radius_m, asset.ring_segment, SEGMENT_NAMES)
    return Scene(asset=asset, spec=spec, world=build_world(build_rod(spec), colon))
