"""The deformable colon wall: rings of particles with XPBD distance constraints, mesentery tethers, insufflation
pressure and self-contact.

DESIGN.md, "Colon body: a generalised cylinder" and "Solver"; prior-art.md §3.1 (XPBD tube prototype) and §3.2
(generalised cylinder with skinning). The builder takes the colon asset's arrays as plain numpy arrays, so physics
never imports sim.

Simulation grid
- R rings at uniform arc length (about `ring_spacing_m` apart, ring 0 at the anal verge, ring R - 1 at the cecal
  pole), P particles per ring at theta_j = 2 pi j / P (theta measured from the ring normal toward the binormal, as in
  the asset). Particle index i = k * P + j for ring k. Rest position x0 = c(s) + r(s, theta) (cos theta n + sin
  theta b), with r averaged over each ring's span along s (the asset's 1.5 mm folds would alias on a 5 mm grid;
  they live in the render mesh) and kept at least `min_ring_radius_m` (the pole ring of the asset has radius 0).
- Distance constraints of five kinds (`CONSTRAINT_KINDS`): hoop (k, j)-(k, j+1), axial (k, j)-(k+1, j), shear
  (both diagonals of each cell), bend-hoop (k, j)-(k, j+2), bend-axial (k, j)-(k+2, j). A thin membrane link of
  rest length l spanning a strip of width w has stiffness E h w / l, so each kind's material compliance (that of a
  square patch, 1 / (E h), m/N) is multiplied by l / w: the wall is the same material at any grid resolution.
  Compressed hoop, axial and shear links are `compression_compliance_factor` times softer: a thin wall wrinkles
  rather than compresses, which is what lets suction collapse the lumen and the colon concertina on the scope
  (bending links stay symmetric so the wrinkles stay smooth on the grid's scale).
  In-plane links never stretch beyond `max_stretch` (1.5) times their rest length: a hard one-sided limit in
  the same sweep (the wall's collagen; see ColonMaterial.max_stretch for the measurement behind it).
- Tethers (the mesentery and the retroperitoneal attachments, anatomy.md Mechanics "mesentery support"): every
  particle is held to its rest position by a zero-length compliant link. The material gives the compliance per
  metre of colon per segment (m²/N: a ring of width w has total tether compliance value / w); a particle of a ring
  of P gets P times the ring value. Fixed segments (rectum, descending, ascending) move millimetres under scope
  loads, mobile ones (sigmoid, transverse) centimetres to tens of centimetres. A segment may give its tethers
  slack (`ColonMaterial.tether_slack_m`, none by default): a particle then moves freely within that distance of
  its rest position and the tether pulls only beyond it (a lax mesentery that lets a straightened sigmoid stay
  straight; `_tether_slack` tapers it to zero at the segment's ends). A segment may instead hang from its
  mesentery's root (`ColonMaterial.tether_root_segments`, none by default; `_tether_root_offsets`): each ring hangs
  on a rope from its nearest point on the chord between the segment's end rings, as long as the ring's rest
  distance from that point, so a loop pulled straight (toward the root) meets no tether and one pushed further out
  than at rest is pulled back with the segment's compliance.
- Pressure: insufflation in [-1, 1] sets a gauge pressure `insufflation * insufflation_pressure_Pa` relative to the
  neutral (rest) lumen (reached with a time constant). Each particle gets the force p * A_i along its ring radius
  (from the ring centroid, in the ring plane), A_i its rest wall area, so more air widens the lumen and rounds
  non-circular rings (the ring is pushed out evenly and hoop tension pulls the corners of the triangular
  transverse lumen in), and suction shrinks it. Suction fades out as a particle nears its ring's
  centroid (below `collapse_radius_fraction` of its rest distance it pulls no more): where the walls meet there is
  no air left to pull on, and a wall pulled past the centre would turn inside out.
- Mass: the wall (2 mm of tissue) plus the abdominal contents that move with it (`added_mass_kg_m2`), per rest
  dual-cell area. The anal ring (ring 0) is fixed (inverse mass 0).
- Self-contact: particles of rings far apart along s (further than `self_contact_arc_factor * pi * (r_k + r_l)`,
  the arc a tube needs to turn back onto itself) keep at least the sum of their contact radii apart. Contact radii
  are 0.4 times the larger grid spacing at the particle, so a particle cannot slip through a cell of the other
  wall. Candidates (ring bounding spheres, then particle pairs, with a margin) are collected at most once per step
  and only when something moved far enough; the substeps project them. Across the lumen, `project_lumen_floor`
  keeps each particle at least `lumen_floor_fraction` of its rest distance from its ring centroid (opposite walls
  of a collapsed ring meet instead of crossing).
- Ring order (off by default): neighbouring rings keep at least `min_ring_gap_fraction` of their rest distance
  apart along their mean area normal (`project_ring_order`): the wall concertinas onto a scope only so far and
  never telescopes into itself, which self-contact alone allows (no wall crosses another when a tube turns back
  inside itself). With `ring_order_span_rings` above 1 each ring's centroid also stays in front of the planes of
  that many rings before it (no further behind one than at rest, round a bend tight enough for that): a tube can
  turn back inside a wider part of itself over a few rings with every neighbouring pair in order.
- Pelvic floor: a plane across the anorectal junction that no particle beyond the rectum crosses toward the anus
  (`ColonMaterial.pelvic_floor_segment`, `pelvic_floor_free_segments`, `project_pelvic_floor`): the colon's only
  way out of the body is its lumen.

Combined substep loop (colon + scope + contact, in `physics/world.py`). Once per step: `update_contact_candidates`
(self-contact candidates, rebuilt only when needed), the gauge pressure (see `step_colon`), the per-h constants
(`solver_coefficients`, cached) and the pressure's acceleration of every particle (`pressure_accelerations`). Per
substep of length h: `wall_sweep` (first sweep: pressure kick and `predict` block by block, zeroed multipliers; then
each block's own links and tethers, then the seam links), scope contacts, `project_self_contact`,
`project_ring_order`, `project_pelvic_floor`, then `wall_substep_end` (`project_lumen_floor` and
`update_velocities` block by block). `_step_kernel` is that loop for the colon alone. Everything runs in a fixed
order (Gauss-Seidel in the solver order), so runs are bit-identical, with or without threads.

Solver order, speed and threads (measured with bench/physics.py's default scene: 5,900 particles, 35,300 links,
4 substeps of 1/240 s, the whole scope 0.3 m in; A against B in one process, interleaved, minimum of repeats; the
machine was shared, so absolute times vary 2x from run to run, the ratios less)
- Where the time went before: the link sweep 66 % of a world step (0.94 ms of 1.43 ms per substep), pressure 6 %,
  tethers, lumen floor and predict 3 % each, the self-contact candidate search 0.3 ms on the steps that rebuild it
  (16 of 100 here), rod joints and contact the rest (about 10 %).
- The sweep is bound by latency, not memory (a sixteenth of the links swept 16 times costs the same per link): in
  the ring-major order hoop link j + 1 waits for link j's result on their shared particle. The builder therefore
  colours the links (12 colours: no two links of a colour share a particle) and orders them by colour *within each
  ring* (`_solver_order`). Same kernel, one process, a moving wall: 33.5 ns per link in ring-major order, 23.6
  colour-ordered within rings, 17.7 colour-ordered over the whole grid (a loaded moment; 20-26 against 13-15 ns
  ring-major against grid-wide at a calmer one). The grid-wide order is faster but changes what one Gauss-Seidel
  sweep converges to: corrections no longer travel along the tube within a sweep,
  the wall yields to tangential drag, and rolling a pressed tip took -0.0008 N·m at the handle instead of 0.0114
  (tests/test_world.py, friction test); ring-local colouring gives 0.0114.
- Per-h constants hoisted out of the sweep (`wall_coefficients`: two of three divisions), the stretched/compressed
  choice made an index instead of a branch, fused multiply-adds: about 35 % off the sweep together.
- Constant per step, not per substep: the pressure's direction (`pressure_accelerations`, 3 of 4 evaluations
  saved); the lumen floor decides on squared distances. Whole world step, before against now, same process:
  4.86 -> 4.15 ms with the order and the hoisted constants, 8.70 -> 6.57 ms (-25 %) with everything, measured at a
  more loaded moment (an A/B script running this module against a copy of the previous one).
- Threads (`threaded=True`, `COLOSIM_THREADED=1`): the rings are cut into `DEFAULT_SOLVER_BLOCKS` blocks whose own
  links share no particle; `wall_sweep` and `wall_substep_end` run the blocks in one numba `prange` region each, the
  seam links (~100 per seam) after them on the calling thread. One region per colour instead would be 12 regions per
  sweep at 12 us each (measured, idle machine), as much as the sweep saves. With the second core free the world
  step went 3.85 -> 3.10 ms (measured with the grid-wide colour order); with the second core busy (other processes: the machine is shared, and a render thread
  runs beside the physics in a session) a region waits for a descheduled thread and costs 0.15-0.4 ms, and the
  same step took 27-56 ms (bench/physics.py at load average 5: 13.1 ms on one thread, 71 ms threaded; at load
  average 1.1: 2.76 against 48.8 ms, while an A/B run a minute before, the other core idle, gave 3.15 against
  2.44 ms). Threads are therefore off by default (`THREADED_DEFAULT`): bit-identical, faster only while the
  second core is idle.
- bench/physics.py now (load average 1.1): 2.76 ms per step, real-time factor 1.51 (it was 5.97 ms, 0.70).
- Not reached: issue 3's real-time factor 2 (2.08 ms per step) on one thread. The sweep alone is 35,300 links x ~13 ns x 4
  substeps = 1.8 ms per step on one core; rod joints and contact add ~0.7 ms.
- Not done: sleeping far rings (the default scene's wall moves everywhere while the insufflation pressure rises,
  so it would not sleep there); SIMD batches of a colour (numba did not vectorise the gathers, 2x slower).

Reading forces: the multipliers of the last substep divided by h² are forces (N). Units: SI throughout.

Known limitations
- One Gauss-Seidel sweep per substep does not converge the wall fully: under full insufflation the sigmoid's
  radius grows about 1.6x more at the default 4 substeps than with converged sweeps (16 substeps); fixed segments
  are within 15 %. Shape and sign are right; treat the material numbers as calibration knobs.
- Under strong suction the wrinkling wall snaps through at grid scale now and then (single particles briefly at
  up to ~0.8 m/s at full suction); moderate suction is calm. There is no dihedral bending model to smooth it.
- Cells smaller than 5 mm need proportionally more substeps (`recommended_substeps`); too few make the wall chatter.
- The cecal pole is an open ring (no cap); self-contact has no friction.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numba import njit, prange

from physics.abdominal_press import AbdominalPress, held_particles

#: Ring blocks of the wall's solver order (see `build_colon_body`, "Solver order"); fixed, so results do not depend
#: on the thread count. 4 blocks spread evenly over 1, 2 or 4 threads and leave 3 seams of ~100 links each.
DEFAULT_SOLVER_BLOCKS = 4
#: Whether the wall's blocks run on numba's threads unless told (`threaded_default`).
THREADED_DEFAULT = False
#: Default substeps per step at dt = 1/240 s for the default grid (cells about 5 mm): about 2-3 ms per step for the
#: 1.5 m default colon on one core (bench/colon_body.py; see the module docstring, "Solver order, speed and threads"). With one Gauss-Seidel sweep per substep the wall is stable
#: while h² / m stays small next to the link compliance; m scales with the cell area and the compliance does not,
#: so the substep must shrink with the cell size: `recommended_substeps` scales this by 5 mm / smallest cell side
#: (at 2.5 mm rings, 4 substeps chatter and 8 are stable; at 5 mm, 2 chatter and 3 are marginal).
DEFAULT_SUBSTEPS = 4
#: Cell side (m) that DEFAULT_SUBSTEPS is tuned for.
_DEFAULT_CELL_M = 0.005
#: Constraint kinds, in the order of `ColonBodyModel.constraint_kind` values.
CONSTRAINT_KINDS = ("hoop", "axial", "shear", "bend_hoop", "bend_axial")
_HOOP, _AXIAL, _SHEAR, _BEND_HOOP, _BEND_AXIAL = range(5)
#: 1 mmHg in pascal.
PA_PER_MMHG = 133.322
#: Lengths below this are treated as zero (coincident particles, degenerate frames).
_TINY_M = 1e-12


def _default_tether() -> dict[str, float]:
    # Compliance per metre of colon (m²/N). A ring of width w is held with stiffness w / value (N/m) against
    # translation, and the wall spreads a load over neighbouring rings. Measured on the default colon: 2 N pushing
    # one ring sideways moves a descending ring 1.1 mm and a sigmoid ring 11 mm (anatomy.md Mechanics, "mesentery
    # support" [est]: millimetres for the fixed parts, centimetres to tens of centimetres for the mobile ones under
    # the 5-40 N a scope applies).
    fixed, mobile = 5e-6, 2e-4
    return {
        "anal_canal": fixed, "rectum": fixed, "sigmoid": mobile, "descending": fixed, "splenic_flexure": fixed,
        "transverse": mobile, "hepatic_flexure": fixed, "ascending": fixed, "cecum": 3.0 * fixed,
    }


@dataclass(frozen=True)
class ColonMaterial:
    """Material of the colon wall (every field name carries its unit).

    Wall compliances are those of a square patch of membrane, 1 / (E h) in m/N: E = 0.2 MPa (anatomy.md Mechanics,
    0.1-1 MPa at small strain, low end because the wall is very compliant at the strains a scope causes) and
    h = 0.002 m give 2.5e-3 m/N. Shear and bending links are softer (they stand in for the in-plane shear modulus
    and a weak out-of-plane stiffness). The builder scales them by each link's length / width.
    """

    hoop_compliance_m_N: float = 2.5e-3
    axial_compliance_m_N: float = 2.5e-3
    shear_compliance_m_N: float = 7.5e-3
    bending_compliance_m_N: float = 2.5e-2
    #: Compressed hoop, axial and shear links are this many times more compliant (the thin wall wrinkles instead of
    #: compressing).
    compression_compliance_factor: float = 4.0
    #: In-plane links (hoop, axial, shear) never stretch beyond this times their rest length: a hard one-sided
    #: strain limit (Provot 1995), standing in for the collagen that makes the wall's stress-strain curve turn
    #: steeply upward (anatomy.md Mechanics: 0.1-1 MPa at small strain, several MPa near rupture) [est]. Without
    #: it a scope loop pushing 40-60 N stretched the sigmoid's wall 2-4x and the stored energy snapped back at
    #: 10-30 m/s (measured, bench/autopilot.py seed 0 at 22.5 s); with it the mesentery takes the load and the
    #: loop moves the colon instead of tenting it. math.inf turns it off.
    max_stretch: float = 1.5
    #: Suction stops pulling a particle in once its distance from the ring centroid is this fraction of the rest one.
    collapse_radius_fraction: float = 0.4
    #: No particle comes nearer its ring centroid than this fraction of its rest distance: opposite walls of a
    #: collapsed lumen meet (two walls of 2 mm and folds between them) instead of passing through each other.
    lumen_floor_fraction: float = 0.25
    #: Neighbouring rings keep at least this fraction of their rest distance apart along their own axis (the mean
    #: of their two normals; 0.25: the wall may concertina onto a scope to a quarter of its length, but no further,
    #: and never turns back into itself; `project_ring_order`). -inf (the default): not held. Self-contact keeps
    #: walls from passing through each other, but a tube can telescope into itself without any wall crossing
    #: another (intussusception): with bench/autopilot.py --root sigmoid transverse --autopilot loop_target_m=-0.2,
    #: seed 0 at 66 s, rings 34-45, 99-108 and 244-250 lay closer than 0.3 of their rest distance along the axis or
    #: had turned back (down to -1.13 of it) and scope samples 3 mm apart on the shaft sat in rings 12 and 48. Held
    #: at 0.25 it did not help there (90 s: 37.4 mm outside the wall and 42 m/s, against 8.4 mm and 61 m/s without;
    #: tip 1.21 m along the colon either way) and it never acts on the default colon's insertion (seed 0, 60 s: the
    #: same run), so it stays off until it is shown to help.
    min_ring_gap_fraction: float = -math.inf
    #: With the ring order held (min_ring_gap_fraction above -inf), each ring's centroid also stays in front of the
    #: planes of the rings up to this many before it (no further behind one than at rest, round a bend tight enough
    #: for that); 1: only the neighbour, as above. Neighbours alone stay in order while the tube turns
    #: back inside a wider part of itself over a few rings, with no wall crossing another but those few rings',
    #: too close along s to self-collide: measured with bench/autopilot.py --root sigmoid transverse --autopilot
    #: loop_target_m=-0.2 (seed 0, 58-61 s), the sigmoid's first rings turned down into the rectum round the
    #: withdrawing shaft and then left it through its front wall with the shaft, the shaft's neighbouring samples 51
    #: rings apart along the colon. Held over 10 rings (with the sigmoid's mesentery tapered to nothing at its ends,
    #: a one-off variant) the gap stayed at 6-19 rings in one run, but not in the same runs from the bench (72-77
    #: rings, with the taper or without; README, "Autopilot"); off by default with the ring order itself.
    ring_order_span_rings: int = 1
    #: Sub-grid pleating (off by default: no segment listed): per segment name, the smallest fraction of its rest
    #: length a gap between two rings may gather to. An endoscopist reaches a cecum 1.5 m along the colon with a
    #: scope of 1.33 m working length (anatomy.md Segments, Colonoscope) because the colon shortens onto the
    #: straightened scope like a sleeve pushed up an arm, its wall folding into pleats far finer than the 5 mm grid.
    #: A gap whose rings come closer along their axis (`ring_gaps`) than 1 - `gather_yield_strain` of its current
    #: (gathered) length takes that distance over 1 - the strain as its new rest length, down to this fraction;
    #: stretched beyond 1 + `ungather_yield_strain` it lets pleats out at once to the stretched length over 1 + that
    #: strain, and whenever it is not pushed together (longer than its gathered rest length) they unfold toward the
    #: rest length with `ungather_time_constant_s` (pleats stay only while held: a mesentery pulls them out of a
    #: colon the scope no longer holds), which it takes exactly from within 1 % (`gather_step`). The gap's axial,
    #: shear and axial-bending links keep their length across the tube and scale along it; hoop links are untouched.
    #: Pushed together end to end the grid's tube bends rather than shortens (its bending links are far softer than
    #: its axial ones), so the wall gathers only where something keeps it straight: the shaft inside it, or its rings
    #: sliding into one another. What it did to the autopilot: README, "Autopilot".
    gather_min_fraction: dict[str, float] = field(default_factory=dict)
    gather_yield_strain: float = 0.1
    ungather_yield_strain: float = 0.1
    ungather_time_constant_s: float = 2.0
    #: Tether compliance per metre of colon (m²/N) per segment name; names not listed use `default_tether_*`.
    tether_compliance_m2_N: dict[str, float] = field(default_factory=_default_tether)
    default_tether_compliance_m2_N: float = 5e-6
    #: Distance (m) a particle moves from its rest position, per segment name, before its tether pulls; names not
    #: listed use `default_tether_slack_m`.
    tether_slack_m: dict[str, float] = field(default_factory=dict)
    default_tether_slack_m: float = 0.0
    #: Length (m) along s over which the tether compliance passes from one segment's value to the next one's
    #: (geometric ramp centred on the boundary; 0: a step).
    tether_ramp_m: float = 0.0
    #: Segments that hang from their mesentery's root instead of being held to their rest pose. The root is the
    #: chord between the segment's end rings (the sigmoid mesocolon's inverted-V attachment at the pelvic brim, the
    #: transverse mesocolon's across the upper abdomen; anatomy.md Segments and Mechanics [est]); each ring hangs
    #: from its nearest point on it on a rope as long as the ring's rest distance from that point (plus the
    #: segment's `tether_slack_m`). A mesentery is slack toward its root and taut away from it: an endoscopist
    #: straightens a sigmoid loop by pulling it toward its root and the colon stays there, pleated on the scope,
    #: while a loop that grows beyond its rest pose stretches the mesentery (what hurts).
    tether_root_segments: tuple[str, ...] = ()
    #: Over this length of colon (m, along the rest centreline) from each end of a segment hanging from its root,
    #: the rope shortens to nothing (linearly, its anchor moving from the root point to the rest position): a
    #: mesentery grows from its root, so the first and last rings of the sigmoid are held nearly as the rectum and
    #: the descending colon next to them are [est]. 0: ropes as long as the rings' rest distance from the root all
    #: the way. Without it the root-hung sigmoid's first rings were drawn into the rectum round a withdrawing shaft
    #: even with the ring order held over 10 rings (bench/autopilot.py --root sigmoid transverse --ring-gap 0.25
    #: --ring-span 10 --autopilot loop_target_m=-0.2); with it, 0.05 m, they were too on seeds 0 and 1 from the
    #: bench, though not in a one-off run (README, "Autopilot").
    tether_root_taper_m: float = 0.0
    #: The pelvic floor (levator ani) lies across the end of this segment, the anorectal junction (anatomy.md
    #: Segments: anal canal 0.035 m, fixed): a plane normal to the anal canal's axis through the centre of that
    #: segment's last ring, which no held particle crosses toward the anus further than it lies at rest
    #: (`project_pelvic_floor`). Without it nothing stopped a pleated sigmoid, pulled back by a withdrawing shaft,
    #: from sliding down past the rectum and out beside the anus, where the straight shaft outside the body met it
    #: (measured, bench/autopilot.py --root sigmoid transverse, seed 1 at 66 s: rings 44-73 up to 0.14 m behind
    #: the anal verge, links at 8x rest, wall particles at 33 m/s). "": no floor.
    pelvic_floor_segment: str = "anal_canal"
    #: Segments the pelvic floor does not hold: the anal canal passes through it, and the rectum lies on it, held by
    #: its fascia (its tethers). Holding the rectum too made the plane fight the scope's contact where a bent tip
    #: pressed the rectum near the junction (tests/test_world.py, the pushed wall's load no longer balanced the
    #: handle's).
    pelvic_floor_free_segments: tuple[str, ...] = ("anal_canal", "rectum")
    wall_thickness_m: float = 0.002  # anatomy.md Wall and folds
    tissue_density_kg_m3: float = 1040.0  # soft tissue [est]
    #: Mass (kg) per m² of wall of what moves with the wall: the abdominal contents around the colon. The
    #: potential-flow added mass of a cylinder of radius r in water is rho r / 2 per unit wall area, 10 kg/m² at
    #: r = 2 cm [est]. Besides being physical it keeps the wall's constraint system diagonally dominant at the
    #: default substep (alpha / h² against 1 / m), so one Gauss-Seidel sweep per substep lands near the true
    #: static equilibrium; with the wall's own 2 kg/m² alone, 4 substeps give a lumen about 3x too soft.
    added_mass_kg_m2: float = 10.0
    #: Viscous loss on particle velocities (1/s): the colon is embedded in fluid-filled abdomen, heavily damped.
    damping_per_s: float = 10.0
    #: Gauge pressure of full insufflation over the neutral lumen (anatomy.md Mechanics: 10-20 mmHg typical).
    insufflation_pressure_Pa: float = 15.0 * PA_PER_MMHG
    #: The gauge pressure follows the insufflation setting with this time constant (s): air enters and leaves
    #: through the scope's channel in about a second, not at once (a pressure step would fling the wall) [est].
    pressure_time_constant_s: float = 0.5
    #: Smallest grid ring radius (the asset's pole ring has radius 0; coincident particles have no hoop links).
    min_ring_radius_m: float = 0.004
    #: Rings closer along s than this factor times pi * (r_k + r_l) do not self-collide.
    self_contact_arc_factor: float = 1.0
    #: Extra distance (m) within which contact candidates are collected once per step.
    self_contact_margin_m: float = 0.003


@dataclass(frozen=True)
class ColonBodyModel:
    """Static arrays of the colon wall. R rings, P particles per ring, N = R * P particles, C distance constraints.
    float64 unless noted.

    - ring_count R, particles_per_ring P, ring_spacing_m, ring_s_m (R,), ring_segment (R,) int64, segment_names.
    - rest_position_m (N, 3); ring_index (N,) int64; theta_index (N,) int64; theta_rad (P,).
    - mass_kg (N,), inv_mass (N,) (0 for fixed particles), fixed (N,) bool (the anal ring).
    - area_m2 (N,): rest dual-cell wall area per particle.
    - constraint_i, constraint_j (C,) int64; constraint_kind (C,) int64 (index into CONSTRAINT_KINDS);
      rest_length_m (C,); compliance_m_N (C,); compression_compliance_m_N (C,) (used while a link is shorter than
      its rest length); max_length_m (C,): strain limit (`ColonMaterial.max_stretch` times the rest length for
      in-plane links, inf for bending links).
    - rest_centroid_distance_m (N,): rest distance of each particle from its ring centroid; collapse_radius_fraction,
      lumen_floor_fraction (see ColonMaterial).
    - tether_compliance_m_N (N,): per particle (zero-length link to its anchor).
    - tether_slack_m (N,): per particle, the distance from its anchor within which its tether is slack.
    - tether_anchor_m (N, 3): where each tether is tied: the rest position, or for a segment hanging from its
      mesentery's root (ColonMaterial.tether_root_segments) the rest position moved by its ring's offset to its root
      point, the rope's length then in `tether_slack_m`. None (models built by hand): the rest positions.
    - pelvic_floor_point_m (3,), pelvic_floor_normal (3,) (unit, into the body; zero: no floor),
      pelvic_floor_depth_m (N,): each particle keeps (x - point) . normal >= its depth (the smaller of 0 and its
      rest value; -inf in ColonMaterial.pelvic_floor_free_segments; ColonMaterial.pelvic_floor_segment).
    - ring_min_gap_m (R - 1, H): column 0, rings k and k + 1 keep at least this distance apart along their mean
      normal (`project_ring_order`, ColonMaterial.min_ring_gap_fraction times the rest value); column m - 1 for
      m = 2 .. H (ColonMaterial.ring_order_span_rings), ring k + m's centroid lies at least this far in front of
      ring k's plane along ring k's normal (the smaller of 0 and the rest value); -inf: not held (None, a model
      built by hand: none held, H = 1).
    - contact_radius_m (N,); contact_ring_lo, contact_ring_hi (R,) int64: ring k does not self-collide with rings
      lo[k]..hi[k] (its neighbourhood along s); self_contact_margin_m.
    - ring_mean_radius_m (R,): rest mean distance of the ring's particles from the rest ring centre.
    - Skinning references (see `ring_frames`): rest_ring_centre_m (R, 3), rest_ring_frame (R, 3, 3) (columns
      normal, binormal, tangent), ring_local_xy_m (N, 2) rest offsets from the ring centroid in the rest frame,
      ring_centre_local_m (R, 3) the asset centre relative to the centroid in the rest frame, rest_radial_m (N,)
      rest in-plane distance from the ring centre, rest_centroid_tangent (R, 3), rest_normal_ref (R, 3).
    - Asset curve for skinning (Na fine rings): asset_s_m (Na,), asset_centreline_m, asset_normal, asset_binormal
      (Na, 3).
    - damping_per_s, insufflation_pressure_Pa, pressure_time_constant_s: from the material.
    - Solver order (see `build_colon_body`): solver_ring_start (B + 1,) int64, the rings of block b are
      solver_ring_start[b] .. solver_ring_start[b + 1] - 1; solver_constraint_start (B + 2,) int64, block b's own
      links are constraints solver_constraint_start[b] .. [b + 1] - 1 and the seam links between blocks follow, up to
      [B + 1] = C. None (a model built by hand): one block, all links its own, in array order (`solver_plan`).
    - Pleating (ColonMaterial.gather_min_fraction; None: none): gather_min_fraction (R - 1,) per ring gap (1: the gap
      does not gather); gap_rest_m (R - 1,) the rest distance between the gap's rings along their axis
      (`ring_gaps`); per link, link_gap (C,) int64 its lower ring, link_span (C,) int64 the ring gaps it spans (0
      hoop and hoop-bending, 1 axial and shear, 2 axial-bending), link_rest_axial_m and link_rest_transverse_m (C,)
      its rest length's components along the tube (the two rings' mean centroid tangent) and across it.
    """

    ring_count: int
    particles_per_ring: int
    ring_spacing_m: float
    ring_s_m: np.ndarray
    ring_segment: np.ndarray
    segment_names: tuple
    theta_rad: np.ndarray
    rest_position_m: np.ndarray
    ring_index: np.ndarray
    theta_index: np.ndarray
    mass_kg: np.ndarray
    inv_mass: np.ndarray
    fixed: np.ndarray
    area_m2: np.ndarray
    constraint_i: np.ndarray
    constraint_j: np.ndarray
    constraint_kind: np.ndarray
    rest_length_m: np.ndarray
    compliance_m_N: np.ndarray
    compression_compliance_m_N: np.ndarray
    max_length_m: np.ndarray
    rest_centroid_distance_m: np.ndarray
    collapse_radius_fraction: float
    lumen_floor_fraction: float
    tether_compliance_m_N: np.ndarray
    contact_radius_m: np.ndarray
    contact_ring_lo: np.ndarray
    contact_ring_hi: np.ndarray
    self_contact_margin_m: float
    ring_mean_radius_m: np.ndarray
    rest_ring_centre_m: np.ndarray
    rest_ring_frame: np.ndarray
    ring_local_xy_m: np.ndarray
    ring_centre_local_m: np.ndarray
    rest_radial_m: np.ndarray
    rest_centroid_tangent: np.ndarray
    rest_normal_ref: np.ndarray
    asset_s_m: np.ndarray
    asset_centreline_m: np.ndarray
    asset_normal: np.ndarray
    asset_binormal: np.ndarray
    damping_per_s: float
    insufflation_pressure_Pa: float
    pressure_time_constant_s: float
    material: ColonMaterial
    solver_ring_start: np.ndarray | None = None
    solver_constraint_start: np.ndarray | None = None
    tether_slack_m: np.ndarray | None = None
    tether_anchor_m: np.ndarray | None = None
    pelvic_floor_point_m: np.ndarray | None = None
    pelvic_floor_normal: np.ndarray | None = None
    pelvic_floor_depth_m: np.ndarray | None = None
    ring_min_gap_m: np.ndarray | None = None
    gather_min_fraction: np.ndarray | None = None
    gap_rest_m: np.ndarray | None = None
    link_gap: np.ndarray | None = None
    link_span: np.ndarray | None = None
    link_rest_axial_m: np.ndarray | None = None
    link_rest_transverse_m: np.ndarray | None = None

    def __post_init__(self):
        # Models built by hand: tethers tied at the rest positions, no pelvic floor, no ring order.
        if self.tether_anchor_m is None:
            object.__setattr__(self, "tether_anchor_m", self.rest_position_m)
        if self.ring_min_gap_m is None:
            object.__setattr__(self, "ring_min_gap_m", np.full((max(self.ring_count - 1, 0), 1), -np.inf))
        if self.pelvic_floor_normal is None:
            object.__setattr__(self, "pelvic_floor_point_m", np.zeros(3))
            object.__setattr__(self, "pelvic_floor_normal", np.zeros(3))
            object.__setattr__(self, "pelvic_floor_depth_m", np.zeros(self.rest_position_m.shape[0]))

    @cached_property
    def gathers(self) -> bool:
        """Whether any ring gap may gather (ColonMaterial.gather_min_fraction)."""
        return self.gather_min_fraction is not None and bool(np.any(self.gather_min_fraction < 1.0))

    @cached_property
    def ring_link_runs(self) -> tuple[np.ndarray, np.ndarray]:
        """(start (R + 1,), runs (M, 2)) int64: the links whose lower ring is k are the constraints lo..hi - 1 of
        the runs (lo, hi) = runs[start[k]:start[k + 1]] (`sweep_marked_rings` solves the rings around a contact).
        In the builder's solver order a ring's links are one run in its block and one among the seam links."""
        ring = np.minimum(self.ring_index[self.constraint_i], self.ring_index[self.constraint_j])
        index = np.argsort(ring, kind="stable")
        ring_sorted = ring[index]
        cut = np.flatnonzero((np.diff(ring_sorted) != 0) | (np.diff(index) != 1)) + 1
        first = np.concatenate(([0], cut))
        last = np.concatenate((cut, [index.size])) - 1
        runs = np.stack((index[first], index[last] + 1), axis=1).astype(np.int64)
        start = np.searchsorted(ring_sorted[first], np.arange(self.ring_count + 1)).astype(np.int64)
        return start, runs

    @property
    def particle_count(self) -> int:
        return int(self.rest_position_m.shape[0])

    @property
    def constraint_count(self) -> int:
        return int(self.constraint_i.shape[0])

    def segment_particles(self, name: str) -> np.ndarray:
        """Indices (K,) of the particles whose ring lies in segment `name`."""
        seg = self.segment_names.index(name)
        return np.flatnonzero(self.ring_segment[self.ring_index] == seg)


@dataclass
class ColonBodyState:
    """Arrays of the colon wall that change every step (N particles, C constraints). `step_colon` updates in place.

    - position_m (N, 3), prev_position_m (N, 3) (start of the last substep), velocity_m_s (N, 3).
    - wall_multiplier (C,) (N·s²): XPBD lambda of each distance constraint in the last substep; lambda / h² is the
      link's tension (N, positive when stretched pulls... see colon_outputs). tether_multiplier (N, 3) (N·s²):
      lambda of each tether per world axis; lambda / h² is the tether force on the particle (N).
    - contact_pairs (K, 2) int64: self-contact candidates (first contact_count rows valid; the buffer grows as
      needed), collected at positions contact_build_position_m (N, 3) within the contact radii plus the model's
      margin. They are rebuilt when a particle may have moved half the margin since (see
      `update_contact_candidates`).
    - insufflation: the last step's setting; pressure_Pa: the gauge pressure over the neutral lumen (it follows
      insufflation * model.insufflation_pressure_Pa with the model's time constant); substep_s: the last substep
      length; time_s: simulated time.
    - solver_coefficients, solver_tether_coefficients, solver_key: a cache of per-substep-length constants
      (`solver_coefficients`); not part of the physical state.
    - gather (R - 1,): each ring gap's rest length as a fraction of the model's (1 unless the wall pleats,
      `gather_step`); link_rest_length_m (C,): the links' rest lengths the solver uses (the model's, scaled along
      the tube where a gap has gathered).
    - press: the abdominal press acting (physics/abdominal_press.py; None: no hand), press_index (M,) int64,
      press_anchor_m (M, 3), press_compliance_m_N (M,): the particles it holds, where and how (`set_press`);
      press_force_N (3,): the press's mean force on the colon over the last step (N).
    """

    position_m: np.ndarray
    prev_position_m: np.ndarray
    velocity_m_s: np.ndarray
    wall_multiplier: np.ndarray
    tether_multiplier: np.ndarray
    contact_pairs: np.ndarray
    contact_build_position_m: np.ndarray
    contact_count: int = -1
    insufflation: float = 0.0
    pressure_Pa: float = 0.0
    substep_s: float = 0.0
    time_s: float = 0.0
    #: Cache of `wall_coefficients` (C, 6) and (N, 4) for the substep length and model arrays in solver_key.
    solver_coefficients: np.ndarray | None = None
    solver_tether_coefficients: np.ndarray | None = None
    solver_key: tuple = ()
    gather: np.ndarray | None = None
    link_rest_length_m: np.ndarray | None = None
    press: AbdominalPress | None = None
    press_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    press_anchor_m: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    press_compliance_m_N: np.ndarray = field(default_factory=lambda: np.zeros(0))
    press_force_N: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def copy(self) -> "ColonBodyState":
        """A deep copy (arrays copied)."""
        return ColonBodyState(**{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in self.__dict__.items()})


@dataclass
class ColonControls:
    """What acts on the colon in one step besides the scope.

    - insufflation: -1 full suction, 0 neutral (the rest lumen), 1 full air; clamped to [-1, 1].
    - external_force_N: optional (N, 3) force per particle (test loads), or None.
    - press: an assistant's hand on the abdomen holding the colon under it (physics/abdominal_press.py), or None.
      Solved by physics/world.py's step only (`step_colon` refuses it).
    """

    insufflation: float = 0.0
    external_force_N: np.ndarray | None = None
    press: AbdominalPress | None = None


def set_press(model: "ColonBodyModel", state: "ColonBodyState", press: AbdominalPress | None) -> None:
    """Start, change or end the abdominal press in `state`: `press` holds the particles under it where they are
    now (`abdominal_press.held_particles`); None lets them go."""
    state.press = press
    if press is None:
        state.press_index = np.zeros(0, dtype=np.int64)
        state.press_anchor_m = np.zeros((0, 3))
        state.press_compliance_m_N = np.zeros(0)
    else:
        state.press_index, state.press_anchor_m, state.press_compliance_m_N = held_particles(
            state.position_m, model.inv_mass, model.ring_segment[model.ring_index], tuple(model.segment_names), press)
    state.press_force_N = np.zeros(3)


@dataclass(frozen=True)
class ColonOutputs:
    """What the rest of colosim reads from the colon after a step (R rings, N particles).

    - ring_centre_m (R, 3): deformed centreline (ring centres, consistent with the skinning).
    - ring_mean_radius_m (R,): mean in-plane distance of each ring's particles from its centre.
    - hoop_strain (N,), axial_strain (N,): signed engineering strain, mean over the particle's hoop (axial) links.
    - wall_strain (N,): max(|hoop_strain|, |axial_strain|).
    - tether_force_N (N, 3): force each tether exerts on its particle (toward its anchor), last substep.
    - tether_force_magnitude_N (N,).
    """

    ring_centre_m: np.ndarray
    ring_mean_radius_m: np.ndarray
    hoop_strain: np.ndarray
    axial_strain: np.ndarray
    wall_strain: np.ndarray
    tether_force_N: np.ndarray
    tether_force_magnitude_N: np.ndarray


# --------------------------------------------------------------------------------------------------------------
# Builder
# --------------------------------------------------------------------------------------------------------------


def build_colon_body(centreline_m: np.ndarray, s_m: np.ndarray, normal: np.ndarray, binormal: np.ndarray,
                     theta_rad: np.ndarray, radius_m: np.ndarray, ring_segment: np.ndarray, segment_names: tuple,
                     ring_spacing_m: float = 0.005, particles_per_ring: int = 20,
                     material: ColonMaterial | None = None,
                     solver_blocks: int = DEFAULT_SOLVER_BLOCKS) -> ColonBodyModel:
    """Resample a colon asset (Na fine rings, M angles) to the simulation grid and build its constraints.

    centreline_m (Na, 3), s_m (Na,) increasing from 0, normal/binormal (Na, 3) unit frames, theta_rad (M,) equally
    spaced from 0, radius_m (Na, M) r(s, theta), ring_segment (Na,) int index into segment_names. The grid has
    round(L / ring_spacing_m) + 1 rings of `particles_per_ring` particles.

    Solver order: the rings are cut into `solver_blocks` blocks of consecutive rings (fewer when there are fewer
    than 4 rings per block). The constraint arrays hold each block's own links (both ends in the block) block after
    block, then the seam links joining neighbouring blocks. Within each group the links are greedily coloured (a
    colour's links share no particle) and ordered by colour, keeping the ring-major order within a colour. The
    sweep stays Gauss-Seidel (every link sees the corrections of the links before it) in a fixed order that does
    not depend on thread count; blocks share no particle, so they may run on different threads.
    """
    material = material or ColonMaterial()
    centreline_m = np.ascontiguousarray(centreline_m, dtype=np.float64)
    s_m = np.ascontiguousarray(s_m, dtype=np.float64)
    normal = np.ascontiguousarray(normal, dtype=np.float64)
    binormal = np.ascontiguousarray(binormal, dtype=np.float64)
    theta_rad = np.asarray(theta_rad, dtype=np.float64)
    radius_m = np.asarray(radius_m, dtype=np.float64)
    na, m = radius_m.shape
    if centreline_m.shape != (na, 3) or s_m.shape != (na,) or theta_rad.shape != (m,):
        raise ValueError(f"build_colon_body: shapes disagree: centreline {centreline_m.shape}, s {s_m.shape}, "
                         f"theta {theta_rad.shape}, radius {radius_m.shape}")
    if not 8 <= particles_per_ring <= 64:
        raise ValueError(f"particles_per_ring must lie in [8, 64], got {particles_per_ring}")
    length = float(s_m[-1] - s_m[0])
    n_rings = max(3, int(round(length / ring_spacing_m)) + 1)
    p = int(particles_per_ring)
    ring_s = np.linspace(s_m[0], s_m[-1], n_rings)
    spacing = float(ring_s[1] - ring_s[0])

    # Ring centres and frames by linear interpolation of the fine asset rings (1.5 mm apart for procedural ones).
    centre = np.stack([np.interp(ring_s, s_m, centreline_m[:, a]) for a in range(3)], axis=1)
    nrm = np.stack([np.interp(ring_s, s_m, normal[:, a]) for a in range(3)], axis=1)
    bnr = np.stack([np.interp(ring_s, s_m, binormal[:, a]) for a in range(3)], axis=1)
    tan = np.cross(nrm, bnr)
    tan /= np.linalg.norm(tan, axis=1, keepdims=True)
    nrm -= np.einsum("ij,ij->i", nrm, tan)[:, None] * tan
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    bnr = np.cross(tan, nrm)

    # r on the grid: mean of the asset rings within half a grid spacing along s (box filter against aliasing the
    # 3 mm folds), then periodic linear interpolation in theta.
    csum = np.vstack((np.zeros((1, m)), np.cumsum(radius_m, axis=0)))
    lo = np.searchsorted(s_m, ring_s - 0.5 * spacing, side="left")
    hi = np.maximum(np.searchsorted(s_m, ring_s + 0.5 * spacing, side="right"), lo + 1)
    hi = np.minimum(hi, na)
    lo = np.minimum(lo, hi - 1)
    r_s = (csum[hi] - csum[lo]) / (hi - lo)[:, None]  # (R, M)
    theta_p = 2.0 * np.pi * np.arange(p) / p
    theta_ext = np.concatenate((theta_rad, [theta_rad[0] + 2.0 * np.pi]))
    r_ext = np.hstack((r_s, r_s[:, :1]))
    r_grid = np.stack([np.interp(theta_p, theta_ext, row) for row in r_ext])  # (R, P)
    r_grid = np.maximum(r_grid, material.min_ring_radius_m)

    direction = (np.cos(theta_p)[None, :, None] * nrm[:, None, :] + np.sin(theta_p)[None, :, None] * bnr[:, None, :])
    rest = (centre[:, None, :] + r_grid[:, :, None] * direction).reshape(-1, 3)
    n = n_rings * p
    ring_index = np.repeat(np.arange(n_rings), p).astype(np.int64)
    theta_index = np.tile(np.arange(p), n_rings).astype(np.int64)
    seg_idx = np.clip(np.searchsorted(s_m, ring_s, side="right") - 1, 0, na - 1)
    ring_seg = np.asarray(ring_segment)[seg_idx].astype(np.int64)

    # Dual-cell areas: hoop width (half the two adjacent hoop links) times axial width (half the neighbours' gap).
    grid = rest.reshape(n_rings, p, 3)
    hoop_len = np.linalg.norm(np.roll(grid, -1, axis=1) - grid, axis=2)  # (R, P) link j -> j+1
    hoop_width = 0.5 * (hoop_len + np.roll(hoop_len, 1, axis=1))
    axial_width = np.full(n_rings, spacing)
    axial_width[[0, -1]] = 0.5 * spacing
    area = (hoop_width * axial_width[:, None]).reshape(-1)
    mass = (material.tissue_density_kg_m3 * material.wall_thickness_m + material.added_mass_kg_m2) * area
    fixed = ring_index == 0
    inv_mass = np.where(fixed, 0.0, 1.0 / mass)

    # Constraints, ordered ring by ring so the Gauss-Seidel sweep runs from the anus to the pole.
    idx = np.arange(n).reshape(n_rings, p)
    nxt = np.roll(idx, -1, axis=1)
    nxt2 = np.roll(idx, -2, axis=1)
    blocks = []  # (i, j, kind, width) per ring-major block
    base_compliance = np.array([material.hoop_compliance_m_N, material.axial_compliance_m_N,
                                material.shear_compliance_m_N, material.bending_compliance_m_N,
                                material.bending_compliance_m_N])
    for k in range(n_rings):  # builder only: R iterations of vectorised work
        w_ax = np.full(p, axial_width[k])
        blocks.append((idx[k], nxt[k], _HOOP, w_ax))
        blocks.append((idx[k], nxt2[k], _BEND_HOOP, w_ax))
        if k + 1 < n_rings:
            wh = 0.5 * (hoop_width[k] + hoop_width[k + 1])
            blocks.append((idx[k], idx[k + 1], _AXIAL, wh))
            blocks.append((idx[k], nxt[k + 1], _SHEAR, None))
            blocks.append((nxt[k], idx[k + 1], _SHEAR, None))
        if k + 2 < n_rings:
            blocks.append((idx[k], idx[k + 2], _BEND_AXIAL, 0.5 * (hoop_width[k] + hoop_width[k + 2])))
    ci = np.concatenate([b[0] for b in blocks]).astype(np.int64)
    cj = np.concatenate([b[1] for b in blocks]).astype(np.int64)
    kind = np.concatenate([np.full(len(b[0]), b[2]) for b in blocks]).astype(np.int64)
    rest_len = np.linalg.norm(rest[ci] - rest[cj], axis=1)
    # Shear diagonals: a square-ish cell's diagonal spans a strip as wide as it is long (ratio 1).
    width = np.concatenate([b[3] if b[3] is not None else rest_len[0:0] for b in blocks])
    ratio = np.ones(len(ci))
    not_shear = kind != _SHEAR
    ratio[not_shear] = rest_len[not_shear] / np.maximum(width, _TINY_M)
    compliance = base_compliance[kind] * ratio
    in_plane = (kind == _HOOP) | (kind == _AXIAL) | (kind == _SHEAR)

    compression_compliance = compliance * np.where(in_plane, material.compression_compliance_factor, 1.0)
    order, ring_start, constraint_start = _solver_order(ci, cj, ring_index, n_rings, n, solver_blocks)
    ci, cj, kind, rest_len = ci[order], cj[order], kind[order], rest_len[order]
    compliance, compression_compliance = compliance[order], compression_compliance[order]
    in_plane = in_plane[order]
    max_length = np.where(in_plane, rest_len * float(material.max_stretch), np.inf)
    centroid = grid.mean(axis=1)
    centroid_distance = np.linalg.norm(grid - centroid[:, None, :], axis=2).reshape(-1)

    # Tethers: ring total compliance value / w, shared by P particles in parallel -> each P times that.
    seg_names = tuple(segment_names)
    tether_per_m = np.array([material.tether_compliance_m2_N.get(name, material.default_tether_compliance_m2_N)
                             for name in seg_names])
    tether = (_ramped(tether_per_m[ring_seg], ring_s, material.tether_ramp_m) / axial_width * p)[ring_index]
    tether_slack = _tether_slack(material, seg_names, ring_seg, ring_s)
    root_offset = _tether_root_offsets(material, seg_names, ring_seg, centroid)
    tether_anchor = rest - root_offset[ring_index]
    tether_slack = (tether_slack + np.linalg.norm(root_offset, axis=1))[ring_index]
    floor_point, floor_normal, floor_depth = _pelvic_floor(material, seg_names, ring_seg, centroid, rest)
    rest_gap = np.empty(n_rings - 1)
    ring_gaps(rest, n_rings, p, rest_gap)
    if n_rings > 1 and not np.all(rest_gap > 0):
        raise ValueError("build_colon_body: the rings' normals (theta from the normal toward the binormal) must point "
                         "along increasing s; the asset's frame is left-handed or its rings overlap")
    ring_min_gap = _ring_min_gaps(material, rest, n_rings, p, rest_gap)
    gather = _gather_links(material, seg_names, ring_seg, rest, ci, cj, rest_len, ring_index, centroid, rest_gap)

    # Self-contact: radius 0.4 x the larger grid spacing at the particle (a particle cannot pass a cell of the
    # other wall), at least the wall thickness; rings within arc factor * pi * (r_k + r_l) are excluded.
    contact_radius = np.maximum(0.4 * np.maximum(hoop_width.reshape(-1), spacing), material.wall_thickness_m)
    rest_c, rest_f, local_xy, centre_local, radial, t_ref, n_ref, mean_r = _rest_ring_reference(
        rest, centre, nrm, n_rings, p)
    excl = material.self_contact_arc_factor * np.pi * (mean_r[:, None] + mean_r[None, :])
    near = np.abs(ring_s[:, None] - ring_s[None, :]) <= excl  # (R, R), builder only
    ks = np.arange(n_rings)
    contact_lo = np.array([ks[near[k]].min() for k in range(n_rings)], dtype=np.int64)
    contact_hi = np.array([ks[near[k]].max() for k in range(n_rings)], dtype=np.int64)

    return ColonBodyModel(
        ring_count=n_rings, particles_per_ring=p, ring_spacing_m=spacing, ring_s_m=ring_s, ring_segment=ring_seg,
        segment_names=seg_names, theta_rad=theta_p, rest_position_m=rest, ring_index=ring_index,
        theta_index=theta_index, mass_kg=mass, inv_mass=inv_mass, fixed=fixed, area_m2=area,
        constraint_i=ci, constraint_j=cj, constraint_kind=kind, rest_length_m=rest_len, compliance_m_N=compliance,
        compression_compliance_m_N=compression_compliance, max_length_m=max_length,
        rest_centroid_distance_m=centroid_distance,
        collapse_radius_fraction=float(material.collapse_radius_fraction),
        lumen_floor_fraction=float(material.lumen_floor_fraction),
        tether_compliance_m_N=tether, contact_radius_m=contact_radius, contact_ring_lo=contact_lo,
        contact_ring_hi=contact_hi, self_contact_margin_m=float(material.self_contact_margin_m),
        ring_mean_radius_m=mean_r, rest_ring_centre_m=rest_c, rest_ring_frame=rest_f, ring_local_xy_m=local_xy,
        ring_centre_local_m=centre_local, rest_radial_m=radial, rest_centroid_tangent=t_ref,
        rest_normal_ref=n_ref, asset_s_m=s_m.copy(), asset_centreline_m=centreline_m.copy(),
        asset_normal=normal.copy(), asset_binormal=binormal.copy(), damping_per_s=float(material.damping_per_s),
        insufflation_pressure_Pa=float(material.insufflation_pressure_Pa),
        pressure_time_constant_s=float(material.pressure_time_constant_s), material=material,
        solver_ring_start=ring_start, solver_constraint_start=constraint_start, tether_slack_m=tether_slack,
        tether_anchor_m=tether_anchor, pelvic_floor_point_m=floor_point, pelvic_floor_normal=floor_normal,
        pelvic_floor_depth_m=floor_depth, ring_min_gap_m=ring_min_gap, **gather,
    )


def _solver_order(ci: np.ndarray, cj: np.ndarray, ring_index: np.ndarray, n_rings: int, n: int, blocks: int):
    """Permutation (C,) of the ring-major links into solver order, block ring starts (B + 1,) and block constraint
    starts (B + 2,) (see `build_colon_body`, "Solver order")."""
    blocks = max(1, min(int(blocks), n_rings // 4))
    ring_start = np.round(np.linspace(0, n_rings, blocks + 1)).astype(np.int64)
    block_of_ring = np.searchsorted(ring_start, np.arange(n_rings), side="right") - 1
    bi = block_of_ring[ring_index[ci]]
    bj = block_of_ring[ring_index[cj]]
    group = np.where(bi == bj, bi, blocks)  # seam links form group B, after the blocks
    colour = _greedy_colours(ci, cj, n)
    ring = np.minimum(ring_index[ci], ring_index[cj])
    order = np.lexsort((np.arange(len(ci)), colour, ring, group))
    constraint_start = np.searchsorted(group[order], np.arange(blocks + 2)).astype(np.int64)
    return order, ring_start, constraint_start


@njit(cache=True, nogil=True)
def _greedy_colours(ci, cj, n):
    """Colour (C,) of each link, the smallest not yet used at either end, links taken in order (builder only; a
    grid of 12 links per particle takes 12 colours)."""
    colour = np.empty(ci.shape[0], np.int64)
    used = np.zeros((n, 64), np.bool_)
    for c in range(ci.shape[0]):
        k = 0
        while used[ci[c], k] or used[cj[c], k]:
            k += 1
        colour[c] = k
        used[ci[c], k] = True
        used[cj[c], k] = True
    return colour


def _ramped(per_ring: np.ndarray, ring_s_m: np.ndarray, ramp_m: float) -> np.ndarray:
    """per_ring (R,) positive values, each step between segments turned into a geometric ramp of length ramp_m
    centred on it (the mean of the logarithm over a window of ramp_m along s)."""
    if ramp_m <= 0.0:
        return per_ring
    log_value = np.log(per_ring)
    cumulative = np.concatenate(([0.0], np.cumsum(log_value)))
    lo = np.searchsorted(ring_s_m, ring_s_m - 0.5 * ramp_m, side="left")
    hi = np.searchsorted(ring_s_m, ring_s_m + 0.5 * ramp_m, side="right")
    return np.exp((cumulative[hi] - cumulative[lo]) / (hi - lo))


def _tether_slack(material: ColonMaterial, segment_names: tuple, ring_segment: np.ndarray,
                  ring_s_m: np.ndarray) -> np.ndarray:
    """Tether slack (m) per ring (R,): each segment's `tether_slack_m` at its middle, falling as a half sine to 0
    at its ends: a mesentery is longest halfway between its roots (the sigmoid's inverted-V attachment, the
    transverse mesocolon), and a slack step at a segment's end would leave the first mobile ring to hold what the
    fixed ones next to it do not."""
    slack = np.zeros(len(ring_s_m))
    for index, name in enumerate(segment_names):
        value = material.tether_slack_m.get(name, material.default_tether_slack_m)
        rings = np.flatnonzero(ring_segment == index)
        if value <= 0.0 or rings.size == 0:
            continue
        s = ring_s_m[rings]
        span = max(float(s[-1] - s[0]), 1e-9)
        slack[rings] = value * np.sin(np.pi * (s - s[0]) / span)
    return slack


def _gather_links(material: ColonMaterial, segment_names: tuple, ring_segment: np.ndarray, rest: np.ndarray,
                  ci: np.ndarray, cj: np.ndarray, rest_len: np.ndarray, ring_index: np.ndarray,
                  centroid: np.ndarray, rest_gap: np.ndarray) -> dict:
    """The pleating fields of ColonBodyModel (see its docstring) for `material.gather_min_fraction`; {} when no
    segment gathers. A gap between two segments gathers as little as the less gathering of its two rings."""
    if not material.gather_min_fraction:
        return {}
    _segment_indices("gather_min_fraction", material.gather_min_fraction, segment_names)
    for name, value in material.gather_min_fraction.items():
        if not 0.0 < value <= 1.0:
            raise ValueError(f"ColonMaterial.gather_min_fraction[{name!r}]: expected a fraction in (0, 1], "
                             f"got {value}")
    per_ring = np.array([material.gather_min_fraction.get(name, 1.0) for name in segment_names])[ring_segment]
    ri, rj = ring_index[ci], ring_index[cj]
    tangent = _centroid_tangents(centroid)
    along = tangent[ri] + tangent[rj]
    along /= np.linalg.norm(along, axis=1, keepdims=True)
    axial = np.abs(np.einsum("ij,ij->i", rest[cj] - rest[ci], along))
    lower = np.minimum(ri, rj)
    return dict(gather_min_fraction=np.maximum(per_ring[:-1], per_ring[1:]), gap_rest_m=rest_gap.copy(),
                link_gap=lower.astype(np.int64), link_span=np.abs(ri - rj).astype(np.int64),
                link_rest_axial_m=axial, link_rest_transverse_m=np.sqrt(np.maximum(rest_len ** 2 - axial ** 2, 0.0)))


def gather_step(model: ColonBodyModel, state: ColonBodyState, dt_s: float) -> None:
    """Let the wall's ring gaps gather into pleats or let them out (ColonMaterial.gather_min_fraction), once per
    step of `dt_s` after the substeps: updates state.gather and state.link_rest_length_m in place. Does nothing for a
    model whose wall does not pleat."""
    if not model.gathers:
        return
    m = model.material
    creep = -math.expm1(-dt_s / m.ungather_time_constant_s) if m.ungather_time_constant_s > 0 else 1.0
    gather_kernel(state.position_m, model.particles_per_ring, model.gap_rest_m, model.gather_min_fraction,
                  float(m.gather_yield_strain), float(m.ungather_yield_strain), creep, model.link_gap, model.link_span,
                  model.link_rest_axial_m, model.link_rest_transverse_m, model.rest_length_m, state.gather,
                  state.link_rest_length_m)


@njit(cache=True, nogil=True)
def gather_kernel(position_m, particles_per_ring, gap_rest_m, gather_min_fraction, gather_yield,
                  ungather_yield, creep, link_gap, link_span, link_rest_axial_m, link_rest_transverse_m,
                  rest_length_m, gather, link_rest_length_m):  # pragma: no cover - compiled
    """Per ring gap k (R - 1): lam = the distance between its rings along their axis over the rest one
    (`ring_gaps`: a tube that telescopes into itself, its rings sliding inside one another on links swung
    inward, shortens as surely as one whose links shorten); gather[k] = g becomes
    max(min_fraction[k], lam / (1 - gather_yield)) if lam < g (1 - gather_yield) (a plastic strain with a dead
    band); if lam > g (not pushed together), the larger of g + creep (1 - g) and lam / (1 + ungather_yield), at
    most 1, and 1 from above 0.99. The links over a changed gap get the rest length
    sqrt((g a)² + t²) (a, t: their rest components along and across the tube; g the mean over the gaps they span),
    exactly the model's at g = 1. Arrays as in ColonBodyModel / ColonBodyState."""
    gaps = gather.shape[0]
    gap = np.empty(gaps)
    ring_gaps(position_m, gaps + 1, particles_per_ring, gap)
    changed = np.zeros(gaps, dtype=np.bool_)
    any_changed = False
    for k in range(gaps):
        lo_fraction = gather_min_fraction[k]
        if lo_fraction >= 1.0:
            continue
        lam = gap[k] / gap_rest_m[k]
        g = gather[k]
        if lam < g * (1.0 - gather_yield):
            g = max(lo_fraction, lam / (1.0 - gather_yield))
        elif lam > g and g < 1.0:
            g = min(1.0, max(g + creep * (1.0 - g), lam / (1.0 + ungather_yield)))
            if g > 0.99:
                g = 1.0
        if g != gather[k]:
            gather[k] = g
            changed[k] = True
            any_changed = True
    if not any_changed:
        return
    for c in range(link_gap.shape[0]):
        span = link_span[c]
        if span == 0:
            continue
        k = link_gap[c]
        if not (changed[k] or (span == 2 and changed[k + 1])):
            continue
        g = gather[k] if span == 1 else 0.5 * (gather[k] + gather[k + 1])
        if g >= 1.0:
            link_rest_length_m[c] = rest_length_m[c]
        else:
            a = g * link_rest_axial_m[c]
            link_rest_length_m[c] = math.sqrt(a * a + link_rest_transverse_m[c] ** 2)


def _segment_indices(field_name: str, names, segment_names: tuple) -> list[int]:
    """Indices into segment_names of the segment `names` a ColonMaterial field lists; ValueError naming the field
    and the valid names for one that is not a segment."""
    for name in names:
        if name not in segment_names:
            raise ValueError(f"ColonMaterial.{field_name}: {name!r} is not a segment "
                             f"(expected one of {', '.join(segment_names)})")
    return [segment_names.index(name) for name in names]


def _tether_root_offsets(material: ColonMaterial, segment_names: tuple, ring_segment: np.ndarray,
                         ring_centre_m: np.ndarray) -> np.ndarray:
    """(R, 3) each ring's rest centre minus its root point (zero outside `material.tether_root_segments`): the
    nearest point of the chord between the segment's first and last ring centres (`ring_centre_m` (R, 3)), scaled
    down to zero at the segment's ends over `material.tether_root_taper_m` of rest arc length."""
    if not material.tether_root_taper_m >= 0.0:
        raise ValueError(f"ColonMaterial.tether_root_taper_m: {material.tether_root_taper_m!r}; expected a length "
                         f">= 0 m (0: no taper)")
    offset = np.zeros_like(ring_centre_m)
    for seg in _segment_indices("tether_root_segments", material.tether_root_segments, segment_names):
        rings = np.flatnonzero(ring_segment == seg)
        if rings.size < 2:
            continue
        a, b = ring_centre_m[rings[0]], ring_centre_m[rings[-1]]
        chord = b - a
        t = np.clip((ring_centre_m[rings] - a) @ chord / max(float(chord @ chord), _TINY_M ** 2), 0.0, 1.0)
        offset[rings] = ring_centre_m[rings] - (a + t[:, None] * chord)
        if material.tether_root_taper_m > 0.0:
            arc = np.concatenate(([0.0], np.cumsum(np.linalg.norm(np.diff(ring_centre_m[rings], axis=0), axis=1))))
            offset[rings] *= np.clip(np.minimum(arc, arc[-1] - arc) / material.tether_root_taper_m, 0.0, 1.0)[:, None]
    return offset


def _ring_min_gaps(material: ColonMaterial, rest_position_m: np.ndarray, ring_count: int, particles_per_ring: int,
                   rest_gap_m: np.ndarray) -> np.ndarray:
    """ColonBodyModel.ring_min_gap_m (R - 1, H) from the material (min_ring_gap_fraction, ring_order_span_rings),
    the rest positions (N, 3) and the rest neighbour gaps (R - 1,) (`ring_gaps`). All -inf when the order is not
    held. Raises ValueError naming the field for a span below 1."""
    span = int(material.ring_order_span_rings)
    if span < 1:
        raise ValueError(f"ColonMaterial.ring_order_span_rings: {material.ring_order_span_rings!r}; expected an "
                         f"integer >= 1 (1: each ring against its neighbour only)")
    gaps = np.full((max(ring_count - 1, 0), span), -np.inf)
    if not material.min_ring_gap_fraction > -np.inf:
        return gaps
    gaps[:, 0] = float(material.min_ring_gap_fraction) * rest_gap_m
    centre = np.empty((ring_count, 3))
    normal = np.empty((ring_count, 3))
    for k in range(ring_count):
        ring_centroid_normal(rest_position_m, k, particles_per_ring, centre[k], normal[k])
    for m in range(2, min(span, ring_count - 1) + 1):
        ahead = np.einsum("ij,ij->i", centre[m:] - centre[:-m], normal[:-m])
        gaps[:ring_count - m, m - 1] = np.minimum(ahead, 0.0)
    return gaps


def _pelvic_floor(material: ColonMaterial, segment_names: tuple, ring_segment: np.ndarray,
                  ring_centre_m: np.ndarray, rest_position_m: np.ndarray):
    """(point (3,), normal (3,), depth (N,)) of the pelvic floor (ColonMaterial.pelvic_floor_segment): through the
    centre of the segment's last ring, normal along the segment's axis (first ring centre to last) into the body;
    each particle's depth is the smaller of 0 and its rest depth (rest_position_m (N, 3)), -inf (free) in
    `material.pelvic_floor_free_segments`; ring_segment (R,) ring -> index into segment_names. A zero normal: none.
    Raises ValueError naming the field for a segment name that is not among segment_names."""
    name = material.pelvic_floor_segment
    floor = _segment_indices("pelvic_floor_segment", (name,) if name else (), segment_names)
    free_segments = _segment_indices("pelvic_floor_free_segments", material.pelvic_floor_free_segments,
                                     segment_names)
    rings = np.flatnonzero(ring_segment == floor[0]) if floor else np.zeros(0, int)
    if rings.size < 2:
        return np.zeros(3), np.zeros(3), np.zeros(rest_position_m.shape[0])
    point = ring_centre_m[rings[-1]].copy()
    axis = point - ring_centre_m[rings[0]]
    normal = axis / max(float(np.linalg.norm(axis)), _TINY_M)
    depth = np.minimum((rest_position_m - point) @ normal, 0.0)
    free = np.isin(ring_segment, free_segments)
    p = rest_position_m.shape[0] // ring_segment.shape[0]
    depth[np.repeat(free, p)] = -np.inf
    return point, normal, depth


def solver_plan(model: ColonBodyModel) -> tuple[np.ndarray, np.ndarray]:
    """(ring starts (B + 1,), constraint starts (B + 2,)) of the model's solver blocks; one block of everything for a
    model without them."""
    if model.solver_ring_start is not None and model.solver_constraint_start is not None:
        return model.solver_ring_start, model.solver_constraint_start
    c = model.constraint_count
    return np.array([0, model.ring_count], dtype=np.int64), np.array([0, c, c], dtype=np.int64)


def solver_coefficients(model: ColonBodyModel, state: ColonBodyState, h_s: float) -> tuple[np.ndarray, np.ndarray]:
    """`wall_coefficients` for substep h_s, cached in `state` (recomputed when h or the model's arrays change)."""
    key = (float(h_s), id(model.inv_mass), id(model.compliance_m_N), id(model.compression_compliance_m_N),
           id(model.max_length_m), id(model.tether_compliance_m_N), id(model.constraint_i),
           id(model.tether_slack_m))
    if state.solver_key != key or state.solver_coefficients is None:
        coef = np.empty((model.constraint_count, 6))
        tether = np.empty((model.particle_count, 4))
        slack = model.tether_slack_m if model.tether_slack_m is not None else np.zeros(model.particle_count)
        wall_coefficients(model.inv_mass, model.constraint_i, model.constraint_j, model.compliance_m_N,
                          model.compression_compliance_m_N, model.max_length_m, model.tether_compliance_m_N,
                          slack, float(h_s), coef, tether)
        state.solver_coefficients, state.solver_tether_coefficients, state.solver_key = coef, tether, key
    return state.solver_coefficients, state.solver_tether_coefficients


def threaded_default() -> bool:
    """Whether the wall's blocks run on numba's threads by default: env COLOSIM_THREADED=1 / 0, else
    THREADED_DEFAULT (results are bit-identical either way; only the speed differs)."""
    flag = os.environ.get("COLOSIM_THREADED", "")
    if flag in ("0", "1"):
        return flag == "1"
    return THREADED_DEFAULT


def _rest_ring_reference(rest: np.ndarray, centre: np.ndarray, nrm: np.ndarray, n_rings: int, p: int):
    """Rest references for `ring_frames`: the frames and centres it must reproduce at rest.

    Returns rest ring centre (R, 3) (= the asset centre), rest frame (R, 3, 3), local xy (N, 2), centre local (R, 3),
    rest radial distance (N,), rest centroid tangent (R, 3), rest normal reference (R, 3), mean radius (R,).
    """
    grid = rest.reshape(n_rings, p, 3)
    g = grid.mean(axis=1)
    t = _centroid_tangents(g)
    n_ref = nrm - np.einsum("ij,ij->i", nrm, t)[:, None] * t
    n_ref /= np.linalg.norm(n_ref, axis=1, keepdims=True)
    b_ref = np.cross(t, n_ref)
    d = grid - g[:, None, :]
    local_xy = np.stack((np.einsum("kpa,ka->kp", d, n_ref), np.einsum("kpa,ka->kp", d, b_ref)), axis=2).reshape(-1, 2)
    frame = np.stack((n_ref, b_ref, t), axis=2)  # columns normal, binormal, tangent
    centre_local = np.einsum("kab,ka->kb", frame, centre - g)
    # The frame ring_frames computes at rest equals (n_ref, b_ref, t) and the centre g + F centre_local = centre.
    radial_vec = grid - centre[:, None, :]
    radial_vec -= np.einsum("kpa,ka->kp", radial_vec, t)[:, :, None] * t[:, None, :]
    radial = np.linalg.norm(radial_vec, axis=2)
    return centre.copy(), frame, local_xy, centre_local, radial.reshape(-1), t, n_ref, radial.mean(axis=1)


def _centroid_tangents(g: np.ndarray) -> np.ndarray:
    """Unit tangents (R, 3) of ring centroids g (R, 3): central differences, one-sided at the ends."""
    t = np.empty_like(g)
    t[1:-1] = g[2:] - g[:-2]
    t[0] = g[1] - g[0]
    t[-1] = g[-1] - g[-2]
    return t / np.linalg.norm(t, axis=1, keepdims=True)


def rest_state(model: ColonBodyModel) -> ColonBodyState:
    """The colon at rest in its rest pose (zero velocities and multipliers)."""
    n = model.particle_count
    return ColonBodyState(
        position_m=model.rest_position_m.copy(), prev_position_m=model.rest_position_m.copy(),
        velocity_m_s=np.zeros((n, 3)), wall_multiplier=np.zeros(model.constraint_count),
        tether_multiplier=np.zeros((n, 3)), contact_pairs=np.zeros((max(16, n // 4), 2), dtype=np.int64),
        contact_build_position_m=model.rest_position_m.copy(), gather=np.ones(max(model.ring_count - 1, 0)),
        link_rest_length_m=model.rest_length_m.copy(),
    )


# --------------------------------------------------------------------------------------------------------------
# Step and outputs
# --------------------------------------------------------------------------------------------------------------


def recommended_substeps(model: ColonBodyModel, dt_s: float = 1.0 / 240.0) -> int:
    """Substeps per step of `dt_s` for this grid: DEFAULT_SUBSTEPS at 1/240 s and 5 mm cells, more for smaller
    cells or longer steps (the substep scales with the smallest cell side; see DEFAULT_SUBSTEPS)."""
    hoop = float(np.median(model.rest_length_m[model.constraint_kind == _HOOP]))
    cell = min(model.ring_spacing_m, hoop)
    return max(1, int(math.ceil(DEFAULT_SUBSTEPS * (_DEFAULT_CELL_M / cell) * (dt_s * 240.0) - 1e-9)))


def step_colon(model: ColonBodyModel, state: ColonBodyState, controls: ColonControls, dt_s: float,
               substeps: int | None = None, *, iterations: int = 1,
               damping_per_s: float | None = None, threaded: bool | None = None) -> ColonBodyState:
    """Advance the colon alone by `dt_s` in `substeps` XPBD substeps (default: `recommended_substeps`) of
    `iterations` constraint sweeps.

    Updates `state` in place and returns it. `damping_per_s` overrides the material's velocity damping.
    `threaded`: run the wall's ring blocks on numba's threads (default `threaded_default()`); bit-identical either
    way.
    """
    if substeps is None:
        substeps = recommended_substeps(model, dt_s)
    if not (dt_s > 0 and substeps >= 1 and iterations >= 1):
        raise ValueError(f"step_colon needs dt_s > 0, substeps >= 1, iterations >= 1; got {dt_s}, {substeps}, "
                         f"{iterations}")
    if controls.press is not None:
        raise ValueError("step_colon: ColonControls.press is solved by physics.world.step_world only")
    n = model.particle_count
    insufflation = float(np.clip(controls.insufflation, -1.0, 1.0))
    target_Pa = insufflation * model.insufflation_pressure_Pa
    if model.pressure_time_constant_s > 0:
        blend = -math.expm1(-dt_s / model.pressure_time_constant_s)  # first-order lag, exact for a constant target
        pressure = state.pressure_Pa + (target_Pa - state.pressure_Pa) * blend
    else:
        pressure = target_Pa
    if controls.external_force_N is None:
        ext = np.zeros((n, 3))
    else:
        ext = np.ascontiguousarray(controls.external_force_N, dtype=np.float64).reshape(n, 3)
    update_contact_candidates(model, state, dt_s)
    damping = model.damping_per_s if damping_per_s is None else float(damping_per_s)
    coef, tether_coef = solver_coefficients(model, state, float(dt_s) / substeps)
    ring_start, constraint_start = solver_plan(model)
    _step_kernel(state.position_m, state.prev_position_m, state.velocity_m_s, state.wall_multiplier,
                 state.tether_multiplier, model.tether_anchor_m, model.inv_mass, ext, model.constraint_i,
                 model.constraint_j, state.link_rest_length_m, coef, tether_coef, model.area_m2, model.ring_count,
                 model.particles_per_ring, pressure, model.rest_centroid_distance_m, model.collapse_radius_fraction,
                 model.lumen_floor_fraction, state.contact_pairs, state.contact_count, model.contact_radius_m, damping,
                 model.pelvic_floor_point_m, model.pelvic_floor_normal, model.pelvic_floor_depth_m,
                 model.ring_min_gap_m, float(dt_s), int(substeps), int(iterations), ring_start, constraint_start,
                 threaded_default() if threaded is None else bool(threaded))
    gather_step(model, state, float(dt_s))
    state.insufflation = insufflation
    state.pressure_Pa = float(pressure)
    state.substep_s = float(dt_s) / substeps
    state.time_s += float(dt_s)
    return state


def update_contact_candidates(model: ColonBodyModel, state: ColonBodyState, dt_s: float = 0.0) -> int:
    """Keep `state.contact_pairs` valid for the next `dt_s` (call once per step). Returns the candidate count.

    A pair missing from the list was further apart than its contact distance plus the margin when the list was
    built, so it can touch only after some particle moved half the margin. The list is rebuilt
    when the largest displacement since the build plus the largest speed times dt_s reaches half the margin; a
    colon at rest never pays for the search. The buffer grows when it is too small.
    """
    if state.contact_count >= 0:
        moved = _max_displacement(state.position_m, state.contact_build_position_m)
        speed = _max_displacement(state.velocity_m_s, np.zeros((1, 3)))
        if moved + speed * dt_s < 0.5 * model.self_contact_margin_m:
            return state.contact_count
    state.contact_build_position_m[:] = state.position_m
    while True:
        count = find_self_contact_pairs(state.position_m, model.ring_count, model.particles_per_ring,
                                        model.contact_radius_m, model.contact_ring_lo, model.contact_ring_hi,
                                        model.self_contact_margin_m, state.contact_pairs)
        if count <= state.contact_pairs.shape[0]:
            state.contact_count = int(count)
            return int(count)
        state.contact_pairs = np.zeros((2 * count, 2), dtype=np.int64)


def colon_outputs(model: ColonBodyModel, state: ColonBodyState) -> ColonOutputs:
    """Ring centreline, ring radii, wall strain and tether forces of `state`."""
    centre, _frame, stretch = ring_frames(state.position_m, model.rest_centroid_tangent, model.rest_normal_ref,
                                          model.ring_local_xy_m, model.ring_centre_local_m, model.rest_radial_m,
                                          model.ring_count, model.particles_per_ring)
    hoop, axial = _link_strains(state.position_m, model.constraint_i, model.constraint_j, model.constraint_kind,
                                state.link_rest_length_m)
    h = state.substep_s
    n = model.particle_count
    mean_radius = np.empty(model.ring_count)
    force = np.empty((n, 3))
    magnitude = np.empty(n)
    strain = np.empty(n)
    _colon_output_kernel(stretch, model.rest_radial_m, model.ring_count, model.particles_per_ring,
                         state.tether_multiplier, 1.0 / (h * h) if h > 0 else 0.0, hoop, axial, mean_radius, force,
                         magnitude, strain)
    return ColonOutputs(
        ring_centre_m=centre, ring_mean_radius_m=mean_radius, hoop_strain=hoop, axial_strain=axial,
        wall_strain=strain, tether_force_N=force, tether_force_magnitude_N=magnitude,
    )


@njit(cache=True, nogil=True)
def _colon_output_kernel(stretch, rest_radial_m, ring_count, particles_per_ring, tether_multiplier, inv_h2, hoop,
                         axial, mean_radius_out, force_out, magnitude_out, strain_out):
    """The per-particle and per-ring reductions of `colon_outputs` in one pass (as numpy they were half of it):
    mean ring radius (R,), tether force = multiplier / h² (N, 3) and its magnitude (N,), wall strain (N,)."""
    p = particles_per_ring
    for k in range(ring_count):
        acc = 0.0
        for j in range(p):
            acc += stretch[k * p + j] * rest_radial_m[k * p + j]
        mean_radius_out[k] = acc / p
    for i in range(stretch.shape[0]):
        m2 = 0.0
        for a in range(3):
            f = tether_multiplier[i, a] * inv_h2
            force_out[i, a] = f
            m2 += f * f
        magnitude_out[i] = math.sqrt(m2)
        strain_out[i] = max(abs(hoop[i]), abs(axial[i]))


def skin_render_mesh(model: ColonBodyModel, state: ColonBodyState, vertex_s_m: np.ndarray,
                     vertex_theta_rad: np.ndarray, vertex_offset_m: np.ndarray) -> np.ndarray:
    """Positions (V, 3) of render-mesh vertices given by their skinning coordinates (V,) each.

    Each vertex is bound to the grid cell at its (s, theta): its rest position (asset centreline and frame at s,
    offset along theta) is expressed in the rest ring centre and frame interpolated at s; the deformed vertex is the
    same local point in the deformed ring centre and frame interpolated at s, with the in-plane part scaled by the
    radial stretch interpolated bilinearly from the four surrounding particles. The undeformed grid gives back the
    rest mesh to rounding error.
    """
    centre, frame, stretch = ring_frames(state.position_m, model.rest_centroid_tangent, model.rest_normal_ref,
                                         model.ring_local_xy_m, model.ring_centre_local_m, model.rest_radial_m,
                                         model.ring_count, model.particles_per_ring)
    out = np.empty((len(vertex_s_m), 3))
    _skin_kernel(np.ascontiguousarray(vertex_s_m, dtype=np.float64),
                 np.ascontiguousarray(vertex_theta_rad, dtype=np.float64),
                 np.ascontiguousarray(vertex_offset_m, dtype=np.float64),
                 model.asset_s_m, model.asset_centreline_m, model.asset_normal, model.asset_binormal,
                 model.ring_s_m, model.rest_ring_centre_m, model.rest_ring_frame, centre, frame, stretch,
                 model.particles_per_ring, out)
    return out


# --------------------------------------------------------------------------------------------------------------
# numba kernels
# --------------------------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def ring_centroids(position_m, ring_count, particles_per_ring, out):  # pragma: no cover - compiled
    """Centroid of each ring's particles into out (R, 3) and return it; particle k * P + j is particle j of
    ring k (position_m (R * P, 3))."""
    for k in range(ring_count):
        for a in range(3):
            out[k, a] = 0.0
        for j in range(particles_per_ring):
            for a in range(3):
                out[k, a] += position_m[k * particles_per_ring + j, a]
        for a in range(3):
            out[k, a] /= particles_per_ring
    return out


@njit(cache=True, nogil=True)
def apply_pressure(position_m, velocity_m_s, inv_mass, area_m2, ring_count, particles_per_ring, pressure_Pa,
                   rest_centroid_distance_m, collapse_radius_fraction, h_s):
    """Velocity kick h * p * A_i * u_i / m_i (N particles) from the gauge pressure `pressure_Pa`, per ring.

    u_i is the unit vector from the particle's ring centroid to the particle, in the ring's plane (normal to the
    centroid tangent); A_i (N,) the rest dual-cell area. Pushing along the ring radius rather than the local grid
    normal is the per-ring pressure term: a wrinkled or collapsed wall cannot flip it (grid-scale normals of a
    crumpled membrane would, and feed the wrinkles). Suction (p < 0) is scaled by (q - f) / (1 - f), clipped to
    [0, 1], where q is the particle's in-plane distance from the centroid over its rest distance (N,) and
    f = collapse_radius_fraction. The last ring (the rim of the unmodelled cap over the cecal pole, whose load is
    axial) gets none. Call before `predict`.
    """
    if pressure_Pa == 0.0:
        return
    g = ring_centroids(position_m, ring_count, particles_per_ring, np.empty((ring_count, 3)))
    pressure_rings(position_m, velocity_m_s, inv_mass, area_m2, g, particles_per_ring, pressure_Pa,
                   rest_centroid_distance_m, collapse_radius_fraction, h_s, 0, ring_count)


@njit(cache=True, nogil=True)
def pressure_rings(position_m, velocity_m_s, inv_mass, area_m2, centroid, particles_per_ring, pressure_Pa,
                   rest_centroid_distance_m, collapse_radius_fraction, h_s, ring_lo, ring_hi):
    """`apply_pressure` for rings ring_lo..ring_hi - 1 with the ring centroids (R, 3) given (taken before any of
    this substep's moves, so that blocks of rings can run at the same time: each writes only its own rings'
    velocities and reads only `centroid`)."""
    r = centroid.shape[0]
    p = particles_per_ring
    g = centroid
    for k in range(ring_lo, min(ring_hi, r - 1)):
        k0 = k - 1 if k > 0 else 0
        t0 = g[k + 1, 0] - g[k0, 0]
        t1 = g[k + 1, 1] - g[k0, 1]
        t2 = g[k + 1, 2] - g[k0, 2]
        tn = max(math.sqrt(t0 * t0 + t1 * t1 + t2 * t2), _TINY_M)
        t0 /= tn
        t1 /= tn
        t2 /= tn
        for j in range(p):
            i = k * p + j
            if inv_mass[i] == 0.0:
                continue
            d0 = position_m[i, 0] - g[k, 0]
            d1 = position_m[i, 1] - g[k, 1]
            d2 = position_m[i, 2] - g[k, 2]
            dt = d0 * t0 + d1 * t1 + d2 * t2
            d0 -= dt * t0
            d1 -= dt * t1
            d2 -= dt * t2
            dn = math.sqrt(d0 * d0 + d1 * d1 + d2 * d2)
            if dn < _TINY_M:
                continue
            fade = 1.0
            if pressure_Pa < 0.0:
                q = dn / rest_centroid_distance_m[i]
                fade = min(max((q - collapse_radius_fraction) / (1.0 - collapse_radius_fraction), 0.0), 1.0)
            s = fade * pressure_Pa * area_m2[i] * h_s * inv_mass[i] / dn
            velocity_m_s[i, 0] += s * d0
            velocity_m_s[i, 1] += s * d1
            velocity_m_s[i, 2] += s * d2


@njit(cache=True, nogil=True)
def predict(position_m, prev_position_m, velocity_m_s, inv_mass, external_force_N, damping, h_s):
    """Start of a substep: store previous positions, damp (factor `damping` per substep), add external forces
    (N, 3), move free particles by their velocities. Fixed particles (inv_mass 0) stay and have zero velocity."""
    predict_range(position_m, prev_position_m, velocity_m_s, inv_mass, external_force_N, damping, h_s, 0,
                  position_m.shape[0])


@njit(cache=True, nogil=True)
def predict_range(position_m, prev_position_m, velocity_m_s, inv_mass, external_force_N, damping, h_s, lo, hi):
    """`predict` for particles lo..hi - 1."""
    for i in range(lo, hi):
        w = inv_mass[i]
        for a in range(3):
            prev_position_m[i, a] = position_m[i, a]
            if w == 0.0:
                velocity_m_s[i, a] = 0.0
            else:
                velocity_m_s[i, a] = velocity_m_s[i, a] * damping + h_s * w * external_force_N[i, a]
                position_m[i, a] += h_s * velocity_m_s[i, a]


@njit(cache=True, nogil=True)
def _move_pair(position_m, inv_mass, i, j, dx, dy, dz, s):
    """Mass-weighted correction of a particle pair along d = x_i - x_j: x_i += w_i s d, x_j -= w_j s d."""
    wi = inv_mass[i] * s
    wj = inv_mass[j] * s
    position_m[i, 0] += wi * dx
    position_m[i, 1] += wi * dy
    position_m[i, 2] += wi * dz
    position_m[j, 0] -= wj * dx
    position_m[j, 1] -= wj * dy
    position_m[j, 2] -= wj * dz


@njit(cache=True, nogil=True)
def project_self_contact(position_m, prev_position_m, inv_mass, pairs, pair_count, contact_radius_m):
    """Push apart candidate pairs (pair_count rows of pairs (K, 2)) closer than the sum of their contact radii
    (zero compliance, one-sided). Returns the number of pairs that were in contact.

    Only the overlap the pair's motion in this substep made is removed as velocity (x moves, so the approach is
    cancelled, inelastically); overlap the pair already had at the start of the substep (prev_position_m (N, 3))
    is removed from both x and the previous position, so it leaves no velocity behind (pre-stabilisation, Macklin
    et al. 2014, "Unified particle physics for real-time applications", §4.4). Without this a loop of the sigmoid
    pressed onto its neighbour by the scope overlapped by a millimetre or so and every substep turned that into
    about 1 m/s of wall speed (measured: 1-2 m/s pops at particles no scope touched, bench/autopilot.py seed 0)."""
    touching = 0
    for c in range(pair_count):
        i = pairs[c, 0]
        j = pairs[c, 1]
        wsum = inv_mass[i] + inv_mass[j]
        if wsum == 0.0:
            continue
        dx = position_m[i, 0] - position_m[j, 0]
        dy = position_m[i, 1] - position_m[j, 1]
        dz = position_m[i, 2] - position_m[j, 2]
        d2 = dx * dx + dy * dy + dz * dz
        reach = contact_radius_m[i] + contact_radius_m[j]
        if d2 >= reach * reach or d2 < _TINY_M * _TINY_M:
            continue
        d = math.sqrt(d2)
        touching += 1
        px = prev_position_m[i, 0] - prev_position_m[j, 0]
        py = prev_position_m[i, 1] - prev_position_m[j, 1]
        pz = prev_position_m[i, 2] - prev_position_m[j, 2]
        old_overlap = min(max(reach - math.sqrt(px * px + py * py + pz * pz), 0.0), reach - d)
        _move_pair(position_m, inv_mass, i, j, dx, dy, dz, (reach - d) / (d * wsum))
        if old_overlap > 0.0:
            _move_pair(prev_position_m, inv_mass, i, j, dx, dy, dz, old_overlap / (d * wsum))
    return touching


@njit(cache=True, nogil=True)
def project_lumen_floor(position_m, inv_mass, ring_count, particles_per_ring, rest_centroid_distance_m,
                        floor_fraction):
    """Self-contact across the lumen: no particle comes nearer its ring centroid than floor_fraction of its rest
    distance (N,) (in-plane, along the centroid's tangent-normal plane). A collapsed lumen's opposite walls meet
    there instead of passing through each other (which would turn the ring inside out). One-sided, zero
    compliance; the centroids are taken before the projection."""
    lumen_floor_rings(position_m, inv_mass, particles_per_ring, rest_centroid_distance_m, floor_fraction, 0,
                      ring_count)


@njit(cache=True, nogil=True)
def lumen_floor_rings(position_m, inv_mass, particles_per_ring, rest_centroid_distance_m, floor_fraction, ring_lo,
                      ring_hi):
    """`project_lumen_floor` for rings ring_lo..ring_hi - 1 (each ring reads and moves only its own particles)."""
    p = particles_per_ring
    for k in range(ring_lo, ring_hi):
        g0 = 0.0
        g1 = 0.0
        g2 = 0.0
        for j in range(p):
            g0 += position_m[k * p + j, 0]
            g1 += position_m[k * p + j, 1]
            g2 += position_m[k * p + j, 2]
        g0 /= p
        g1 /= p
        g2 /= p
        for j in range(p):
            i = k * p + j
            if inv_mass[i] == 0.0:
                continue
            d0 = position_m[i, 0] - g0
            d1 = position_m[i, 1] - g1
            d2 = position_m[i, 2] - g2
            dn2 = d0 * d0 + d1 * d1 + d2 * d2
            floor = floor_fraction * rest_centroid_distance_m[i]
            if dn2 >= floor * floor or dn2 < _TINY_M * _TINY_M:
                continue  # the usual case, decided without a square root
            dn = math.sqrt(dn2)
            s = (floor - dn) / dn
            position_m[i, 0] += s * d0
            position_m[i, 1] += s * d1
            position_m[i, 2] += s * d2


@njit(cache=True, nogil=True)
def ring_centroid_normal(position_m, k, p, g, n):  # pragma: no cover - compiled
    """Centroid g (3,) and unit area normal n (3,) of ring k: the polygon's area vector, the sum over its edges of
    (x_j - x_0) x (x_{j+1} - x_0), along +s for rings whose theta runs from the normal toward the binormal."""
    o = k * p
    x0, y0, z0 = position_m[o, 0], position_m[o, 1], position_m[o, 2]
    g0, g1, g2 = x0, y0, z0
    n0 = n1 = n2 = 0.0
    a0 = a1 = a2 = 0.0  # particle 0 relative to itself
    for j in range(1, p):
        b0 = position_m[o + j, 0] - x0
        b1 = position_m[o + j, 1] - y0
        b2 = position_m[o + j, 2] - z0
        g0 += position_m[o + j, 0]
        g1 += position_m[o + j, 1]
        g2 += position_m[o + j, 2]
        n0 += a1 * b2 - a2 * b1
        n1 += a2 * b0 - a0 * b2
        n2 += a0 * b1 - a1 * b0
        a0, a1, a2 = b0, b1, b2
    g[0] = g0 / p
    g[1] = g1 / p
    g[2] = g2 / p
    nl = math.sqrt(n0 * n0 + n1 * n1 + n2 * n2)
    if nl > _TINY_M * _TINY_M:
        n0 /= nl
        n1 /= nl
        n2 /= nl
    n[0] = n0
    n[1] = n1
    n[2] = n2


@njit(cache=True, nogil=True)
def _pair_gap(ga, na, gb, nb, n):
    """Distance of centroid gb from ga along the unit mean n (3,) (filled here) of normals na and nb."""
    n[0] = na[0] + nb[0]
    n[1] = na[1] + nb[1]
    n[2] = na[2] + nb[2]
    nl = math.sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2])
    if nl < _TINY_M:
        return np.inf  # opposite normals: no axis to order along
    n[0] /= nl
    n[1] /= nl
    n[2] /= nl
    return (gb[0] - ga[0]) * n[0] + (gb[1] - ga[1]) * n[1] + (gb[2] - ga[2]) * n[2]


@njit(cache=True, nogil=True)
def ring_gaps(position_m, ring_count, particles_per_ring, out):
    """out (R - 1,): distance of ring k + 1's centroid from ring k's along the mean of their area normals
    (`project_ring_order`'s measure; negative when the tube has turned back into itself)."""
    p = particles_per_ring
    ga, na, gb, nb, n = np.empty(3), np.empty(3), np.empty(3), np.empty(3), np.empty(3)
    ring_centroid_normal(position_m, 0, p, gb, nb)
    for k in range(ring_count - 1):
        ga[:] = gb
        na[:] = nb
        ring_centroid_normal(position_m, k + 1, p, gb, nb)
        out[k] = _pair_gap(ga, na, gb, nb, n)


@njit(cache=True, nogil=True)
def project_ring_order(position_m, inv_mass, ring_count, particles_per_ring, min_gap_m):
    """Rings stay in order along the tube (ColonMaterial.min_ring_gap_fraction, ring_order_span_rings;
    min_gap_m (R - 1, H) as ColonBodyModel.ring_min_gap_m): where ring k + 1's centroid lies less than
    min_gap_m[k, 0] beyond ring k's along the mean of their area normals, and where ring k + m's (m = 2 .. H) lies
    less than min_gap_m[k, m - 1] in front of ring k's plane along ring k's normal, the two rings move apart along
    that axis, each particle by its inverse mass (the XPBD step of the constraint on the two centroids, zero
    compliance: momentum is kept, and a ring of equal masses translates with its shape untouched). One pass from
    the anus to the pole, Gauss-Seidel."""
    p = particles_per_ring
    ga, na, gb, nb, n = np.empty(3), np.empty(3), np.empty(3), np.empty(3), np.empty(3)
    held = False
    for k in range(ring_count - 1):
        held = held or min_gap_m[k, 0] > -np.inf
    if not held:
        return  # nothing held (the default): skip the rings' normals
    span = min_gap_m.shape[1]
    ring_centroid_normal(position_m, 0, p, gb, nb)
    for k in range(ring_count - 1):
        ga[:] = gb  # ring k as the last pair left it
        na[:] = nb
        ring_centroid_normal(position_m, k + 1, p, gb, nb)
        c = _pair_gap(ga, na, gb, nb, n) - min_gap_m[k, 0]
        moved = c < 0.0  # ring k moved since ga, na were taken
        if moved:  # out of order (not held: -inf, never)
            _push_rings_apart(position_m, inv_mass, k, k + 1, p, c, n)
        for m in range(2, span + 1):
            if k + m > ring_count - 1 or not min_gap_m[k, m - 1] > -np.inf:
                break
            if moved:
                ring_centroid_normal(position_m, k, p, ga, na)
                moved = False
            ring_centroid_normal(position_m, k + m, p, gb, nb)
            c = ((gb[0] - ga[0]) * na[0] + (gb[1] - ga[1]) * na[1] + (gb[2] - ga[2]) * na[2]) - min_gap_m[k, m - 1]
            if c < 0.0:
                _push_rings_apart(position_m, inv_mass, k, k + m, p, c, na)
                moved = True
        ring_centroid_normal(position_m, k + 1, p, gb, nb)


@njit(cache=True, nogil=True)
def _push_rings_apart(position_m, inv_mass, ka, kb, p, c, n):
    """Move rings ka and kb (P particles each) apart along the unit axis n (3,) to remove the violation c < 0 of
    (g_kb - g_ka) . n >= gap: the XPBD step on the two centroids, each particle by its inverse mass
    (|dC/dx_i|^2 = 1 / P^2 for every particle of either ring)."""
    wa = 0.0
    wb = 0.0
    for j in range(p):
        wa += inv_mass[ka * p + j]
        wb += inv_mass[kb * p + j]
    denom = (wa + wb) / (p * p)
    if denom <= 0.0:
        return
    step = -c / denom / p
    for j in range(p):
        a = ka * p + j
        b = kb * p + j
        for d in range(3):
            position_m[a, d] -= inv_mass[a] * step * n[d]
            position_m[b, d] += inv_mass[b] * step * n[d]


@njit(cache=True, nogil=True)
def project_pelvic_floor(position_m, inv_mass, floor_point_m, floor_normal, floor_depth_m):
    """The pelvic floor (ColonMaterial.pelvic_floor_segment): every free particle with
    (x - floor_point_m) . floor_normal below its floor_depth_m (N,) goes back onto its plane along the normal. A
    static one-sided plane, so a particle pulled against it stops (its velocity follows from the position)."""
    n0 = floor_normal[0]
    n1 = floor_normal[1]
    n2 = floor_normal[2]
    if n0 == 0.0 and n1 == 0.0 and n2 == 0.0:
        return
    for i in range(position_m.shape[0]):
        if inv_mass[i] == 0.0:
            continue
        d = ((position_m[i, 0] - floor_point_m[0]) * n0 + (position_m[i, 1] - floor_point_m[1]) * n1
             + (position_m[i, 2] - floor_point_m[2]) * n2)
        under = floor_depth_m[i] - d
        if under > 0.0:
            position_m[i, 0] += under * n0
            position_m[i, 1] += under * n1
            position_m[i, 2] += under * n2


@njit(cache=True, nogil=True)
def update_velocities(position_m, prev_position_m, velocity_m_s, h_s):
    """End of a substep: velocities from the position change over the substep (XPBD)."""
    update_velocities_range(position_m, prev_position_m, velocity_m_s, h_s, 0, position_m.shape[0])


@njit(cache=True, nogil=True)
def update_velocities_range(position_m, prev_position_m, velocity_m_s, h_s, lo, hi):
    """`update_velocities` for particles lo..hi - 1."""
    inv_h = 1.0 / h_s
    for i in range(lo, hi):
        for a in range(3):
            velocity_m_s[i, a] = (position_m[i, a] - prev_position_m[i, a]) * inv_h


@njit(cache=True, nogil=True)
def wall_coefficients(inv_mass, constraint_i, constraint_j, compliance_m_N, compression_compliance_m_N,
                      max_length_m, tether_compliance_m_N, tether_slack_m, h_s, out, tether_out):
    """Per-substep constants of the XPBD updates, computed once per substep length h (not per substep):
    out (C, 6) = alpha / h² stretched, 1 / (w_i + w_j + alpha / h²) stretched, the same two compressed, w_i + w_j,
    the strain limit max_length_m (C,) (inf when w_i + w_j = 0);
    tether_out (N, 4) = alpha / h², 1 / (w + alpha / h²), w, slack (m). A link or tether with no free particle gets
    0 as its reciprocal, so it neither moves anything nor gathers a multiplier. Hoisting the two divisions out of the
    sweep takes about a quarter off it (`project_wall_range`)."""
    inv_h2 = 1.0 / (h_s * h_s)
    for c in range(constraint_i.shape[0]):
        w = inv_mass[constraint_i[c]] + inv_mass[constraint_j[c]]
        a_s = compliance_m_N[c] * inv_h2
        a_c = compression_compliance_m_N[c] * inv_h2
        out[c, 0] = a_s
        out[c, 1] = 1.0 / (w + a_s) if w > 0.0 else 0.0
        out[c, 2] = a_c
        out[c, 3] = 1.0 / (w + a_c) if w > 0.0 else 0.0
        out[c, 4] = w
        out[c, 5] = max_length_m[c] if w > 0.0 else np.inf
    for i in range(inv_mass.shape[0]):
        w = inv_mass[i]
        a = tether_compliance_m_N[i] * inv_h2
        tether_out[i, 0] = a
        tether_out[i, 1] = 1.0 / (w + a) if w > 0.0 else 0.0
        tether_out[i, 2] = w
        tether_out[i, 3] = tether_slack_m[i]


#: `project_wall_range` only: fused multiply-adds ("contract", no reassociation, NaN or infinity assumptions) and
#: no ZeroDivisionError check on the one division (its divisor is > 1e-12 by the test before it): 6-12 % off the
#: sweep, measured against the plain build in one process. Still deterministic: the same compiled code runs the
#: same operations in the same order.
_SWEEP_FLAGS = dict(cache=True, nogil=True, fastmath={"contract"}, error_model="numpy")


@njit(**_SWEEP_FLAGS)
def project_wall_range(position_m, prev_position_m, inv_mass, constraint_i, constraint_j, rest_length_m,
                       coefficients, multiplier, lo, hi):
    """One Gauss-Seidel sweep (XPBD) over the distance constraints lo..hi - 1, accumulating `multiplier` (C,), with
    the per-h constants of `wall_coefficients`: C = |x_i - x_j| - l0, the stretched or compressed compliance by the
    sign of C; then the strain limit (`ColonMaterial.max_stretch`), a plain position projection on the same line
    (no multiplier: it is a limit, not a spring). The part of an overstretch the link already had at the start
    of the substep (prev_position_m (N, 3)) is taken off the previous positions too, so the limit stops a link
    stretching (inelastically) without flinging it back: hard-limiting a link a scope kept overstretched turned
    each substep's overshoot into metres per second of wall speed (as in `project_self_contact`).

    The constraint order is the model's solver order (see `build_colon_body`, "Solver order"): within
    a block, consecutive links share no particle, so the CPU overlaps their square roots and divisions instead of
    waiting for each link's result before the next (a chain of hoop links j, j + 1, ... serialises on the shared
    particle: 20-26 ns per link against 13-15 ns in colour order, measured on the default grid)."""
    for c in range(lo, hi):
        i = constraint_i[c]
        j = constraint_j[c]
        dx = position_m[i, 0] - position_m[j, 0]
        dy = position_m[i, 1] - position_m[j, 1]
        dz = position_m[i, 2] - position_m[j, 2]
        d2 = dx * dx + dy * dy + dz * dz
        if d2 < _TINY_M * _TINY_M:
            continue
        d = math.sqrt(d2)
        err = d - rest_length_m[c]
        # Columns 2, 3 while compressed, else 0, 1: an index, not a branch (stretched and compressed links mix
        # at random in a moving wall, and a mispredicted branch per link costs more than the rest of the update).
        col = 2 * np.int64(err < 0.0)
        alpha = coefficients[c, col]
        dl = (-err - alpha * multiplier[c]) * coefficients[c, col + 1]
        multiplier[c] += dl
        # The pair moves along its own line, so its new length is d + (w_i + w_j) dl: the limit needs no root.
        over = d + coefficients[c, 4] * dl - coefficients[c, 5]
        if over > 0.0:
            dl -= over / coefficients[c, 4]
            px = prev_position_m[i, 0] - prev_position_m[j, 0]
            py = prev_position_m[i, 1] - prev_position_m[j, 1]
            pz = prev_position_m[i, 2] - prev_position_m[j, 2]
            old_over = min(math.sqrt(px * px + py * py + pz * pz) - coefficients[c, 5], over)
            if old_over > 0.0:
                _move_pair(prev_position_m, inv_mass, i, j, dx, dy, dz, -old_over / (coefficients[c, 4] * d))
        _move_pair(position_m, inv_mass, i, j, dx, dy, dz, dl / d)


@njit(cache=True, nogil=True)
def sweep_marked_rings(position_m, prev_position_m, inv_mass, constraint_i, constraint_j, rest_length_m,
                       coefficients, multiplier, tether_anchor_m, tether_coefficients, tether_multiplier,
                       particles_per_ring, ring_run_start, ring_runs, marked):
    """One more sweep over the links and tethers of the rings k with marked[k] (R,) bool, in ring order (the
    rings around a scope contact: see physics/world.py, "Contact iterations"). ring_run_start, ring_runs:
    `ColonBodyModel.ring_link_runs`.

    Every link with a particle in a marked ring is projected, and the particles of unmarked rings stay where they
    are (`project_wall_range_held`): the rest of the wall is this sweep's fixed boundary, as in a block
    Gauss-Seidel solve of a subdomain. Projecting only the marked rings' own links instead left the first marked
    ring deaf to its links behind and moved the ring beyond the last one, so an edge ring was pulled one way only;
    where the wall was stretched along the tube that yanked it toward the marked rings by up to 0.8 mm per
    substep, and the next full sweep pulled it back. Measured on the autopilot, seed 2 at 27.4 s (rings 97-99 at the
    sigmoid's end stretched 1.3-1.5x along the tube): a particle of ring 98 swung at 0.4-1.0 m/s, step after step,
    whenever the marked set began or ended beside it (controls held for 0.5 s from there: the fastest wall particle
    0.97 -> 0.39 m/s). Over 60 s of the autopilot on seeds 0 and 2, steps with a wall particle faster than
    0.5 m/s went from 1052 and 1122 to 313 and 124, and the 99th percentile of each step's fastest particle from
    0.735 and 0.733 to 0.545 and 0.479 m/s."""
    p = particles_per_ring
    r = marked.shape[0]
    for k in range(r):
        # Ring k's runs hold the links whose lower ring is k; they reach rings k + 1 and k + 2 (axial bending).
        m1 = k + 1 < r and marked[k + 1]
        m2 = k + 2 < r and marked[k + 2]
        if not (marked[k] or m1 or m2):
            continue
        interior = marked[k] and (m1 or k + 1 >= r) and (m2 or k + 2 >= r)
        for n in range(ring_run_start[k], ring_run_start[k + 1]):
            if interior:
                project_wall_range(position_m, prev_position_m, inv_mass, constraint_i, constraint_j,
                                   rest_length_m, coefficients, multiplier, ring_runs[n, 0], ring_runs[n, 1])
            else:
                project_wall_range_held(position_m, prev_position_m, inv_mass, constraint_i, constraint_j,
                                        rest_length_m, coefficients, multiplier, ring_runs[n, 0], ring_runs[n, 1],
                                        marked, p)
        if marked[k]:
            project_tethers_range(position_m, tether_anchor_m, tether_coefficients, tether_multiplier, k * p,
                                  (k + 1) * p)


@njit(cache=True, nogil=True)
def project_wall_range_held(position_m, prev_position_m, inv_mass, constraint_i, constraint_j, rest_length_m,
                            coefficients, multiplier, lo, hi, marked, particles_per_ring):
    """`project_wall_range` over links lo..hi - 1 with the particles of the rings not marked (marked (R,) bool)
    held still: a link between a marked and an unmarked ring moves only its marked particle (its XPBD update and
    strain limit use that particle's inverse mass alone), a link between two marked rings is projected as usual, and
    a link with neither end marked is skipped (`sweep_marked_rings`).

    The same update as `project_wall_range`, with each particle's inverse mass chosen per link; it stays a copy
    because one function serving both (the choice made per link) made the main sweep 3.8x slower, even inlined
    (one-off timing on bench/physics.py's deep scene: 310 -> 1175 us per sweep)."""
    p = particles_per_ring
    for c in range(lo, hi):
        i = constraint_i[c]
        j = constraint_j[c]
        free_i = marked[i // p]
        free_j = marked[j // p]
        wi = inv_mass[i] if free_i else 0.0
        wj = inv_mass[j] if free_j else 0.0
        w = wi + wj
        if w == 0.0:
            continue
        dx = position_m[i, 0] - position_m[j, 0]
        dy = position_m[i, 1] - position_m[j, 1]
        dz = position_m[i, 2] - position_m[j, 2]
        d2 = dx * dx + dy * dy + dz * dz
        if d2 < _TINY_M * _TINY_M:
            continue
        d = math.sqrt(d2)
        err = d - rest_length_m[c]
        col = 2 * np.int64(err < 0.0)
        alpha = coefficients[c, col]
        inv = coefficients[c, col + 1] if (free_i and free_j) else 1.0 / (w + alpha)
        dl = (-err - alpha * multiplier[c]) * inv
        multiplier[c] += dl
        over = d + w * dl - coefficients[c, 5]
        if over > 0.0:
            dl -= over / w
            px = prev_position_m[i, 0] - prev_position_m[j, 0]
            py = prev_position_m[i, 1] - prev_position_m[j, 1]
            pz = prev_position_m[i, 2] - prev_position_m[j, 2]
            old_over = min(math.sqrt(px * px + py * py + pz * pz) - coefficients[c, 5], over)
            if old_over > 0.0:
                _move_pair_weighted(prev_position_m, i, j, wi, wj, dx, dy, dz, -old_over / (w * d))
        _move_pair_weighted(position_m, i, j, wi, wj, dx, dy, dz, dl / d)


@njit(cache=True, nogil=True)
def _move_pair_weighted(position_m, i, j, wi, wj, dx, dy, dz, s):
    """x_i += wi s d, x_j -= wj s d along d = x_i - x_j (`_move_pair` with the inverse masses given)."""
    position_m[i, 0] += wi * s * dx
    position_m[i, 1] += wi * s * dy
    position_m[i, 2] += wi * s * dz
    position_m[j, 0] -= wj * s * dx
    position_m[j, 1] -= wj * s * dy
    position_m[j, 2] -= wj * s * dz


@njit(cache=True, nogil=True)
def project_tethers_range(position_m, tether_anchor_m, tether_coefficients, multiplier, lo, hi):
    """XPBD tethers of particles lo..hi - 1 with the per-h constants of `wall_coefficients`; multiplier (N, 3) per
    world axis, the tether force on particle i is multiplier[i] / h² (N).

    A tether with slack d0 is a link of rest length d0 to its anchor (tether_anchor_m (N, 3)) that only pulls: a
    particle nearer than d0 is free, one further is pulled toward the sphere of radius d0 (the target is the
    sphere's nearest point). With d0 = 0 it is a zero-length link."""
    for i in range(lo, hi):
        inv = tether_coefficients[i, 1]
        if inv == 0.0:
            continue
        alpha = tether_coefficients[i, 0]
        w = tether_coefficients[i, 2]
        slack = tether_coefficients[i, 3]
        scale = 0.0
        if slack > 0.0:
            dx = position_m[i, 0] - tether_anchor_m[i, 0]
            dy = position_m[i, 1] - tether_anchor_m[i, 1]
            dz = position_m[i, 2] - tether_anchor_m[i, 2]
            dist = math.sqrt(dx * dx + dy * dy + dz * dz)
            if dist <= slack:
                continue
            scale = slack / dist
        for a in range(3):
            target = tether_anchor_m[i, a] + scale * (position_m[i, a] - tether_anchor_m[i, a])
            dl = (target - position_m[i, a] - alpha * multiplier[i, a]) * inv
            multiplier[i, a] += dl
            position_m[i, a] += w * dl


@njit(cache=True, nogil=True)
def _wall_block_begin(b, first, position_m, prev_position_m, velocity_m_s, inv_mass, external_force_N,
                      pressure_accel, particles_per_ring, damping, h_s, constraint_i, constraint_j, rest_length_m,
                      coefficients, wall_multiplier, tether_anchor_m, tether_coefficients, tether_multiplier,
                      block_ring_start, block_constraint_start):
    """Block b's share of a sweep: on the first sweep of a substep the pressure kick (h times pressure_accel (N, 3),
    see `pressure_accelerations`) and `predict` of its rings and zeroed multipliers; then its own links (both ends in its rings) and its tethers. Touches only block b's
    particles and links, so blocks can run at the same time."""
    p = particles_per_ring
    k0 = block_ring_start[b]
    k1 = block_ring_start[b + 1]
    c0 = block_constraint_start[b]
    c1 = block_constraint_start[b + 1]
    if first:
        for i in range(k0 * p, k1 * p):
            for a in range(3):
                velocity_m_s[i, a] += h_s * pressure_accel[i, a]
        predict_range(position_m, prev_position_m, velocity_m_s, inv_mass, external_force_N, damping, h_s, k0 * p,
                      k1 * p)
        for c in range(c0, c1):
            wall_multiplier[c] = 0.0
        for i in range(k0 * p, k1 * p):
            for a in range(3):
                tether_multiplier[i, a] = 0.0
    project_wall_range(position_m, prev_position_m, inv_mass, constraint_i, constraint_j, rest_length_m,
                       coefficients, wall_multiplier, c0, c1)
    project_tethers_range(position_m, tether_anchor_m, tether_coefficients, tether_multiplier, k0 * p, k1 * p)


@njit(cache=True, nogil=True, parallel=True)
def _wall_blocks_begin_threaded(first, position_m, prev_position_m, velocity_m_s, inv_mass, external_force_N,
                                pressure_accel, particles_per_ring, damping, h_s, constraint_i, constraint_j,
                                rest_length_m, coefficients, wall_multiplier, tether_anchor_m, tether_coefficients,
                                tether_multiplier, block_ring_start, block_constraint_start):
    """`_wall_block_begin` for every block, blocks spread over numba's threads (one parallel region)."""
    for b in prange(block_ring_start.shape[0] - 1):
        _wall_block_begin(b, first, position_m, prev_position_m, velocity_m_s, inv_mass, external_force_N,
                          pressure_accel, particles_per_ring, damping, h_s, constraint_i, constraint_j, rest_length_m,
                          coefficients, wall_multiplier, tether_anchor_m, tether_coefficients, tether_multiplier,
                          block_ring_start, block_constraint_start)


@njit(cache=True, nogil=True)
def wall_sweep(threaded, first, position_m, prev_position_m, velocity_m_s, inv_mass, external_force_N,
               pressure_accel, particles_per_ring, damping, h_s, constraint_i, constraint_j, rest_length_m,
               coefficients, wall_multiplier, tether_anchor_m, tether_coefficients, tether_multiplier,
               block_ring_start, block_constraint_start):
    """One sweep over the wall: every block's `_wall_block_begin` (on numba's threads when `threaded`), then the
    seam links between blocks in order on this thread. `first`: the substep's first sweep (pressure kick from
    pressure_accel (N, 3), predict, zero multipliers). Blocks touch disjoint
    particles and each runs in a fixed order, so threaded and not give bit-identical results."""
    nb = block_ring_start.shape[0] - 1
    if threaded:
        _wall_blocks_begin_threaded(first, position_m, prev_position_m, velocity_m_s, inv_mass, external_force_N,
                                    pressure_accel, particles_per_ring, damping, h_s, constraint_i, constraint_j,
                                    rest_length_m, coefficients, wall_multiplier, tether_anchor_m,
                                    tether_coefficients, tether_multiplier, block_ring_start, block_constraint_start)
    else:
        for b in range(nb):
            _wall_block_begin(b, first, position_m, prev_position_m, velocity_m_s, inv_mass, external_force_N,
                              pressure_accel, particles_per_ring, damping, h_s, constraint_i, constraint_j,
                              rest_length_m, coefficients, wall_multiplier, tether_anchor_m, tether_coefficients,
                              tether_multiplier, block_ring_start, block_constraint_start)
    c0 = block_constraint_start[nb]
    c1 = block_constraint_start[nb + 1]
    if first:
        for c in range(c0, c1):
            wall_multiplier[c] = 0.0
    project_wall_range(position_m, prev_position_m, inv_mass, constraint_i, constraint_j, rest_length_m,
                       coefficients, wall_multiplier, c0, c1)


@njit(cache=True, nogil=True)
def _wall_block_end(b, position_m, prev_position_m, velocity_m_s, inv_mass, particles_per_ring,
                    rest_centroid_distance_m, floor_fraction, h_s, block_ring_start):
    """Block b's end of a substep: lumen floor and velocities of its rings."""
    p = particles_per_ring
    k0 = block_ring_start[b]
    k1 = block_ring_start[b + 1]
    lumen_floor_rings(position_m, inv_mass, p, rest_centroid_distance_m, floor_fraction, k0, k1)
    update_velocities_range(position_m, prev_position_m, velocity_m_s, h_s, k0 * p, k1 * p)


@njit(cache=True, nogil=True, parallel=True)
def _wall_blocks_end_threaded(position_m, prev_position_m, velocity_m_s, inv_mass, particles_per_ring,
                              rest_centroid_distance_m, floor_fraction, h_s, block_ring_start):
    """`_wall_block_end` for every block on numba's threads."""
    for b in prange(block_ring_start.shape[0] - 1):
        _wall_block_end(b, position_m, prev_position_m, velocity_m_s, inv_mass, particles_per_ring,
                        rest_centroid_distance_m, floor_fraction, h_s, block_ring_start)


@njit(cache=True, nogil=True)
def wall_substep_end(threaded, position_m, prev_position_m, velocity_m_s, inv_mass, particles_per_ring,
                     rest_centroid_distance_m, floor_fraction, h_s, block_ring_start):
    """End of a wall substep, block by block (threaded or not, bit-identical): `project_lumen_floor` and
    `update_velocities`."""
    if threaded:
        _wall_blocks_end_threaded(position_m, prev_position_m, velocity_m_s, inv_mass, particles_per_ring,
                                  rest_centroid_distance_m, floor_fraction, h_s, block_ring_start)
    else:
        for b in range(block_ring_start.shape[0] - 1):
            _wall_block_end(b, position_m, prev_position_m, velocity_m_s, inv_mass, particles_per_ring,
                            rest_centroid_distance_m, floor_fraction, h_s, block_ring_start)

@njit(cache=True, nogil=True)
def pressure_accelerations(position_m, inv_mass, area_m2, ring_count, particles_per_ring, pressure_Pa,
                           rest_centroid_distance_m, collapse_radius_fraction, out):
    """Acceleration (N, 3) (m/s²) the gauge pressure gives each particle (`apply_pressure`'s kick over h), into out.

    Taken once per step from the step's starting positions and applied as a kick in every substep: the ring radii
    it points along turn by well under a degree within a 1/240 s step, and it saves three of the four per-step
    evaluations (a square root and a division per particle each)."""
    for i in range(out.shape[0]):
        for a in range(3):
            out[i, a] = 0.0
    if pressure_Pa != 0.0:
        g = ring_centroids(position_m, ring_count, particles_per_ring, np.empty((ring_count, 3)))
        pressure_rings(position_m, out, inv_mass, area_m2, g, particles_per_ring, pressure_Pa,
                       rest_centroid_distance_m, collapse_radius_fraction, 1.0, 0, ring_count)
    return out



@njit(cache=True, nogil=True)
def find_self_contact_pairs(position_m, ring_count, particles_per_ring, contact_radius_m, contact_ring_lo,
                            contact_ring_hi, margin_m, pairs_out):
    """Self-contact candidates: pairs (i < j) of particles on rings far apart along s (ring of j outside
    contact_ring_lo/hi of the ring of i) closer than r_i + r_j + margin_m.

    Broad phase on rings: each ring's bounding sphere (centroid, largest particle distance plus its largest contact
    radius); sphere pairs of far rings that overlap (with the margin) are tested particle by particle. R rings give
    R² / 2 sphere tests, cheap next to a particle hash whose cells would be crowded with each particle's own tube.
    Writes up to pairs_out.shape[0] rows and returns the total count (larger than the buffer means: grow and call
    again). The order is fixed (ring pairs in order, then particles), so it is deterministic.
    """
    r = ring_count
    p = particles_per_ring
    g = ring_centroids(position_m, r, p, np.empty((r, 3)))
    rad = np.zeros(r)
    for k in range(r):
        big = 0.0
        for j in range(p):
            i = k * p + j
            d = math.sqrt((position_m[i, 0] - g[k, 0]) ** 2 + (position_m[i, 1] - g[k, 1]) ** 2
                          + (position_m[i, 2] - g[k, 2]) ** 2) + contact_radius_m[i]
            if d > big:
                big = d
        rad[k] = big
    count = 0
    cap = pairs_out.shape[0]
    for k in range(r):
        for m in range(contact_ring_hi[k] + 1, r):
            if contact_ring_lo[m] <= k:
                continue
            reach = rad[k] + rad[m] + margin_m
            d2 = (g[k, 0] - g[m, 0]) ** 2 + (g[k, 1] - g[m, 1]) ** 2 + (g[k, 2] - g[m, 2]) ** 2
            if d2 >= reach * reach:
                continue
            for a in range(p):
                i = k * p + a
                for b in range(p):
                    j = m * p + b
                    reach_ij = contact_radius_m[i] + contact_radius_m[j] + margin_m
                    dd = ((position_m[i, 0] - position_m[j, 0]) ** 2 + (position_m[i, 1] - position_m[j, 1]) ** 2
                          + (position_m[i, 2] - position_m[j, 2]) ** 2)
                    if dd < reach_ij * reach_ij:
                        if count < cap:
                            pairs_out[count, 0] = i
                            pairs_out[count, 1] = j
                        count += 1
    return count


@njit(cache=True, nogil=True)
def _max_displacement(a, b):
    """Largest |a[i] - b[i]| over rows (b with one row is broadcast). a (N, 3), b (N, 3) or (1, 3)."""
    out = 0.0
    one = b.shape[0] == 1
    for i in range(a.shape[0]):
        k = 0 if one else i
        d = (a[i, 0] - b[k, 0]) ** 2 + (a[i, 1] - b[k, 1]) ** 2 + (a[i, 2] - b[k, 2]) ** 2
        if d > out:
            out = d
    return math.sqrt(out)


@njit(cache=True, nogil=True)
def _step_kernel(position_m, prev_position_m, velocity_m_s, wall_multiplier, tether_multiplier, tether_anchor_m,
                 inv_mass, external_force_N, constraint_i, constraint_j, rest_length_m, coefficients,
                 tether_coefficients, area_m2, ring_count, particles_per_ring, pressure_Pa, rest_centroid_distance_m,
                 collapse_radius_fraction, lumen_floor_fraction, pairs, pair_count, contact_radius_m, damping_per_s,
                 floor_point_m, floor_normal, floor_depth_m, ring_min_gap_m, dt_s, substeps, iterations,
                 block_ring_start, block_constraint_start, threaded):
    """All substeps of one colon-only step (see the module docstring for the order)."""
    h = dt_s / substeps
    damping = math.exp(-damping_per_s * h)
    accel = pressure_accelerations(position_m, inv_mass, area_m2, ring_count, particles_per_ring, pressure_Pa,
                                   rest_centroid_distance_m, collapse_radius_fraction, np.empty_like(position_m))
    for _ in range(substeps):
        for it in range(iterations):
            wall_sweep(threaded, it == 0, position_m, prev_position_m, velocity_m_s, inv_mass, external_force_N,
                       accel, particles_per_ring, damping, h, constraint_i, constraint_j, rest_length_m,
                       coefficients, wall_multiplier, tether_anchor_m, tether_coefficients, tether_multiplier,
                       block_ring_start, block_constraint_start)
        project_self_contact(position_m, prev_position_m, inv_mass, pairs, pair_count, contact_radius_m)
        project_ring_order(position_m, inv_mass, ring_count, particles_per_ring, ring_min_gap_m)
        project_pelvic_floor(position_m, inv_mass, floor_point_m, floor_normal, floor_depth_m)
        wall_substep_end(threaded, position_m, prev_position_m, velocity_m_s, inv_mass, particles_per_ring,
                         rest_centroid_distance_m, lumen_floor_fraction, h, block_ring_start)


@njit(cache=True, nogil=True)
def ring_frames(position_m, rest_centroid_tangent, rest_normal_ref, ring_local_xy_m, ring_centre_local_m,
                rest_radial_m, ring_count, particles_per_ring):
    """Deformed ring centres (R, 3), frames (R, 3, 3) (columns normal, binormal, tangent) and radial stretch (N,).

    Tangent: central difference of ring centroids. Normal: the rest normal carried by the smallest rotation from the
    rest tangent to the new one, then turned about the tangent by the angle that best fits the ring's particles to
    their rest offsets (2-D Procrustes). Centre: centroid plus the rest centre offset in that frame. Stretch: each
    particle's in-plane distance from the centre over its rest value. At rest this reproduces the rest references.
    """
    r = ring_count
    p = particles_per_ring
    g = ring_centroids(position_m, r, p, np.empty((r, 3)))
    centre = np.empty((r, 3))
    frame = np.empty((r, 3, 3))
    stretch = np.empty(r * p)
    t = np.empty(3)
    u = np.empty(3)
    for k in range(r):
        k0 = k - 1 if k > 0 else 0
        k1 = k + 1 if k < r - 1 else r - 1
        for a in range(3):
            t[a] = g[k1, a] - g[k0, a]
        tn = math.sqrt(t[0] * t[0] + t[1] * t[1] + t[2] * t[2])
        for a in range(3):
            t[a] /= max(tn, _TINY_M)
        # Minimal rotation taking t0 to t applied to the rest normal n0 (Rodrigues with axis t0 x t).
        t0 = rest_centroid_tangent[k]
        n0 = rest_normal_ref[k]
        c = t0[0] * t[0] + t0[1] * t[1] + t0[2] * t[2]
        vx = t0[1] * t[2] - t0[2] * t[1]
        vy = t0[2] * t[0] - t0[0] * t[2]
        vz = t0[0] * t[1] - t0[1] * t[0]
        if c > -0.999999:
            # R n = n c + (v x n) + v (v.n) / (1 + c)
            vn = vx * n0[0] + vy * n0[1] + vz * n0[2]
            f = vn / (1.0 + c)
            u[0] = n0[0] * c + (vy * n0[2] - vz * n0[1]) + vx * f
            u[1] = n0[1] * c + (vz * n0[0] - vx * n0[2]) + vy * f
            u[2] = n0[2] * c + (vx * n0[1] - vy * n0[0]) + vz * f
        else:  # turned right round: any normal will do, the fit below picks the angle
            for a in range(3):
                u[a] = n0[a]
        ut = u[0] * t[0] + u[1] * t[1] + u[2] * t[2]
        for a in range(3):
            u[a] -= ut * t[a]
        un = math.sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2])
        for a in range(3):
            u[a] /= max(un, _TINY_M)
        v0 = t[1] * u[2] - t[2] * u[1]
        v1 = t[2] * u[0] - t[0] * u[2]
        v2 = t[0] * u[1] - t[1] * u[0]
        sin_sum = 0.0
        cos_sum = 0.0
        for j in range(p):
            i = k * p + j
            d0 = position_m[i, 0] - g[k, 0]
            d1 = position_m[i, 1] - g[k, 1]
            d2 = position_m[i, 2] - g[k, 2]
            pu = d0 * u[0] + d1 * u[1] + d2 * u[2]
            pv = d0 * v0 + d1 * v1 + d2 * v2
            a_ = ring_local_xy_m[i, 0]
            b_ = ring_local_xy_m[i, 1]
            sin_sum += a_ * pv - b_ * pu
            cos_sum += a_ * pu + b_ * pv
        phi = math.atan2(sin_sum, cos_sum)
        cp = math.cos(phi)
        sp = math.sin(phi)
        nx = cp * u[0] + sp * v0
        ny = cp * u[1] + sp * v1
        nz = cp * u[2] + sp * v2
        bx = t[1] * nz - t[2] * ny
        by = t[2] * nx - t[0] * nz
        bz = t[0] * ny - t[1] * nx
        frame[k, 0, 0] = nx
        frame[k, 1, 0] = ny
        frame[k, 2, 0] = nz
        frame[k, 0, 1] = bx
        frame[k, 1, 1] = by
        frame[k, 2, 1] = bz
        for a in range(3):
            frame[k, a, 2] = t[a]
        cl = ring_centre_local_m[k]
        for a in range(3):
            centre[k, a] = g[k, a] + frame[k, a, 0] * cl[0] + frame[k, a, 1] * cl[1] + frame[k, a, 2] * cl[2]
        for j in range(p):
            i = k * p + j
            d0 = position_m[i, 0] - centre[k, 0]
            d1 = position_m[i, 1] - centre[k, 1]
            d2 = position_m[i, 2] - centre[k, 2]
            dt = d0 * t[0] + d1 * t[1] + d2 * t[2]
            d0 -= dt * t[0]
            d1 -= dt * t[1]
            d2 -= dt * t[2]
            stretch[i] = math.sqrt(d0 * d0 + d1 * d1 + d2 * d2) / max(rest_radial_m[i], _TINY_M)
    return centre, frame, stretch


@njit(cache=True, nogil=True)
def _interp_frame(ring_s_m, centre, frame, s, out_c, out_f):
    """Centre (3,) and orthonormal frame (3, 3) at arc length s: linear between grid rings, then Gram-Schmidt
    (tangent first, then normal). Returns the ring index k and fraction f used."""
    r = ring_s_m.shape[0]
    spacing = ring_s_m[1] - ring_s_m[0]
    x = (s - ring_s_m[0]) / spacing
    k = int(math.floor(x))
    if k < 0:
        k = 0
    if k > r - 2:
        k = r - 2
    f = min(max(x - k, 0.0), 1.0)
    for a in range(3):
        out_c[a] = (1.0 - f) * centre[k, a] + f * centre[k + 1, a]
        for b in range(3):
            out_f[a, b] = (1.0 - f) * frame[k, a, b] + f * frame[k + 1, a, b]
    # tangent
    tn = math.sqrt(out_f[0, 2] ** 2 + out_f[1, 2] ** 2 + out_f[2, 2] ** 2)
    for a in range(3):
        out_f[a, 2] /= tn
    dn = out_f[0, 0] * out_f[0, 2] + out_f[1, 0] * out_f[1, 2] + out_f[2, 0] * out_f[2, 2]
    for a in range(3):
        out_f[a, 0] -= dn * out_f[a, 2]
    nn = math.sqrt(out_f[0, 0] ** 2 + out_f[1, 0] ** 2 + out_f[2, 0] ** 2)
    for a in range(3):
        out_f[a, 0] /= nn
    out_f[0, 1] = out_f[1, 2] * out_f[2, 0] - out_f[2, 2] * out_f[1, 0]
    out_f[1, 1] = out_f[2, 2] * out_f[0, 0] - out_f[0, 2] * out_f[2, 0]
    out_f[2, 1] = out_f[0, 2] * out_f[1, 0] - out_f[1, 2] * out_f[0, 0]
    return k, f


@njit(cache=True, nogil=True)
def _skin_kernel(vs, vtheta, voff, asset_s, asset_c, asset_n, asset_b, ring_s_m, rest_centre, rest_frame, centre,
                 frame, stretch, particles_per_ring, out):
    """See `skin_render_mesh`. out (V, 3)."""
    na = asset_s.shape[0]
    p = particles_per_ring
    c0 = np.empty(3)
    f0 = np.empty((3, 3))
    c1 = np.empty(3)
    f1 = np.empty((3, 3))
    x0 = np.empty(3)
    dtheta = 2.0 * math.pi / p
    for v in range(vs.shape[0]):
        s = vs[v]
        # Rest position from the asset's fine centreline and frames (linear between asset rings).
        ia = np.searchsorted(asset_s, s, side="right") - 1
        if ia < 0:
            ia = 0
        if ia > na - 2:
            ia = na - 2
        fa = (s - asset_s[ia]) / (asset_s[ia + 1] - asset_s[ia])
        fa = min(max(fa, 0.0), 1.0)
        ct = math.cos(vtheta[v])
        st = math.sin(vtheta[v])
        for a in range(3):
            ca = (1.0 - fa) * asset_c[ia, a] + fa * asset_c[ia + 1, a]
            na_ = (1.0 - fa) * asset_n[ia, a] + fa * asset_n[ia + 1, a]
            ba = (1.0 - fa) * asset_b[ia, a] + fa * asset_b[ia + 1, a]
            x0[a] = ca + voff[v] * (ct * na_ + st * ba)
        k, f = _interp_frame(ring_s_m, rest_centre, rest_frame, s, c0, f0)
        _interp_frame(ring_s_m, centre, frame, s, c1, f1)
        # Local coordinates in the rest frame.
        l0 = 0.0
        l1 = 0.0
        l2 = 0.0
        for a in range(3):
            d = x0[a] - c0[a]
            l0 += f0[a, 0] * d
            l1 += f0[a, 1] * d
            l2 += f0[a, 2] * d
        # Bilinear radial stretch from the four particles around (s, theta).
        th = vtheta[v] % (2.0 * math.pi)
        xj = th / dtheta
        j = int(math.floor(xj))
        g = xj - j
        j = j % p
        j1 = (j + 1) % p
        lam = ((1.0 - f) * ((1.0 - g) * stretch[k * p + j] + g * stretch[k * p + j1])
               + f * ((1.0 - g) * stretch[(k + 1) * p + j] + g * stretch[(k + 1) * p + j1]))
        for a in range(3):
            out[v, a] = c1[a] + f1[a, 0] * lam * l0 + f1[a, 1] * lam * l1 + f1[a, 2] * l2


@njit(cache=True, nogil=True)
def _link_strains(position_m, constraint_i, constraint_j, constraint_kind, rest_length_m):
    """Mean signed strain of each particle's hoop links and of its axial links. Returns (hoop (N,), axial (N,))."""
    n = position_m.shape[0]
    hoop = np.zeros(n)
    axial = np.zeros(n)
    nh = np.zeros(n)
    nax = np.zeros(n)
    for c in range(constraint_i.shape[0]):
        kind = constraint_kind[c]
        if kind != _HOOP and kind != _AXIAL:
            continue
        i = constraint_i[c]
        j = constraint_j[c]
        dx = position_m[i, 0] - position_m[j, 0]
        dy = position_m[i, 1] - position_m[j, 1]
        dz = position_m[i, 2] - position_m[j, 2]
        e = math.sqrt(dx * dx + dy * dy + dz * dz) / rest_length_m[c] - 1.0
        if kind == _HOOP:
            hoop[i] += e
            hoop[j] += e
            nh[i] += 1.0
            nh[j] += 1.0
        else:
            axial[i] += e
            axial[j] += e
            nax[i] += 1.0
            nax[j] += 1.0
    for i in range(n):
        if nh[i] > 0:
            hoop[i] /= nh[i]
        if nax[i] > 0:
            axial[i] /= nax[i]
    return hoop, axial
