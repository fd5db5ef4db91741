"""A scene: a colon asset and a scope model turned into one physics world (the builder step of DESIGN.md).

`build_scene(asset, spec)` is the one place where an asset becomes a `ColonBodyModel` and a scope file a
`RodModel`, joined into a `WorldModel`; sessions, the autopilot, replays, tests and benches all start here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from physics.colon_body import ColonBodyModel, ColonMaterial, build_colon_body
from physics.scope_rod import RodModel, ScopeSpec, build_rod
from physics.world import WorldModel, build_world
from sim.colon.asset import MOBILE_SEGMENT_NAMES, SEGMENT_NAMES, ColonAsset
from sim.colon.procedural import generate_colon
from sim.scope_file import load_scope


#: Scene calibration of the colon wall against physics.colon_body.ColonMaterial's defaults (which hold the
#: membrane-level numbers its unit tests check): the mobile segments' tethers TETHER_MOBILITY_FACTOR times more
#: compliant (anatomy.md Mechanics: the sigmoid and transverse move centimetres to tens of centimetres). Measured with the autopilot pushing through loops (seed 0,
#: to s = 1.17 m within 44 s): mobility 1 stalls at the splenic flexure (s = 0.89 m, every push rebuilds the sigmoid
#: loop), 10 at 0.9 m (the loop never reduces), 3 passes into the transverse. A 5x stiffer wall (E = 1 MPa) or a
#: strain-stiffening one (10x above 20 % strain) did not help: one Gauss-Seidel sweep per substep bounds the
#: stiffness the wall reaches, and strains above 100 % remain where the bending section tents the wall.
TETHER_MOBILITY_FACTOR = 3.0
#: Slack (m) of the mobile segments' tethers (ColonMaterial.tether_slack_m, the value at a segment's middle). None
#: by default: with 0.10 m the colon lets the scope much further (bench/autopilot.py --slack 0.10, 90 s, seeds 0-5:
#: tip 1.08-1.23 m along the colon against 0.80-0.93 m), but the scope tents the lax wall at the rectosigmoid
#: junction and the sigmoid apex, 5-10 mm outside the wall with particles at 14-57 m/s (README, "Autopilot").
TETHER_SLACK_M = 0.0
#: Length (m) over which the tether compliance passes from a fixed segment's to a mobile one's
#: (ColonMaterial.tether_ramp_m): a mesentery grows from its root, it does not start at full length (anatomy.md
#: Segments: the rectum is fixed, the sigmoid mobile on its mesocolon) [est]. With a step (120x between the last
#: rectal and the first sigmoid ring) the stiffened scope leaning on the rectosigmoid junction made its first
#: mobile ring chatter against the strain limit (links at 1.55x rest, particles at 5-7 m/s). Measured with
#: bench/autopilot.py (90 s, seeds 0 and 4; step -> 0.04 m -> 0.10 m): fastest wall particle 5.2 -> 2.4 -> 2.6 m/s and
#: 9.3 -> 5.4 -> 2.4 m/s, worst scope point outside the wall 1.26 -> 1.31 -> 1.33 mm and 1.62 -> 1.02 -> 0.61 mm, tip
#: progress unchanged (0.92 and 0.80 m).
TETHER_RAMP_M = 0.10
#: Segments that hang from their mesentery's root (ColonMaterial.tether_root_segments) instead of being held to their
#: rest pose. None by default yet: see README, "Autopilot", for what it does to the autopilot
#: (bench/autopilot.py --root sigmoid transverse).
TETHER_ROOT_SEGMENTS: tuple[str, ...] = ()


def scene_material(base: ColonMaterial | None = None, mobility: float = TETHER_MOBILITY_FACTOR,
                   slack_m: float = TETHER_SLACK_M, ramp_m: float = TETHER_RAMP_M,
                   root_segments: tuple[str, ...] = TETHER_ROOT_SEGMENTS) -> ColonMaterial:
    """The colon material scenes use: `base` (default ColonMaterial()) with the calibration above (`mobility`:
    the mobile segments' tether factor, `slack_m` their tethers' slack, `ramp_m` the tether compliance's ramp
    between segments, `root_segments` the segments hanging from their mesentery's root; the constants unless an
    experiment asks otherwise)."""
    base = base or ColonMaterial()
    tethers = dict(base.tether_compliance_m2_N)
    slack = dict(base.tether_slack_m)
    for name in MOBILE_SEGMENT_NAMES:
        tethers[name] = tethers[name] * mobility
        slack[name] = slack_m
    return replace(base, tether_compliance_m2_N=tethers, tether_slack_m=slack, tether_ramp_m=ramp_m,
                   tether_root_segments=tuple(root_segments))


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


def build_scene(asset: ColonAsset | None = None, spec: ScopeSpec | None = None, *, seed: int = 0,
                material: ColonMaterial | None = None) -> Scene:
    """The world of `asset` (default: the procedural colon of `seed`), `spec` (default: the bundled adult
    colonoscope) and the colon `material` (default: `scene_material()`)."""
    if asset is None:
        asset = generate_colon(seed)
    if spec is None:
        spec = load_scope()
    colon = build_colon_body(asset.centreline_m, asset.s_m, asset.normal, asset.binormal, asset.theta_rad,
                             asset.radius_m, asset.ring_segment, SEGMENT_NAMES,
                             material=scene_material() if material is None else material)
    return Scene(asset=asset, spec=spec, world=build_world(build_rod(spec), colon))
