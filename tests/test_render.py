"""Headless rendering (Mesa EGL / llvmpipe, no display) of known poses: the endoscope view down a straight lumen and
at the wall, red-out, the scope-guide view against the coils' positions, and a whole session frame with its HUD.

Image statistics, not exact pixels (llvmpipe versions differ): prior-art.md §5.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.colon.tube_mesh import tube_faces
from sim.render.context import create_window, renderer_name

W, H = 320, 240
TUBE_RADIUS_M = 0.025


@pytest.fixture(scope="module")
def window():
    win = create_window(W + 160, H + 130, headless=True)
    yield win


@pytest.fixture(scope="module")
def straight_view(window):
    """A straight tube along +z (radius 25 mm with 10 % haustral folds every 40 mm, 0.4 m long) and its view."""
    from sim.render.endoscope import ColonRenderMesh, EndoscopeView
    from sim.render.glutil import RenderTarget

    m, ds = 48, 0.0015
    n = int(0.4 / ds)
    s = np.arange(n) * ds
    theta = 2 * np.pi * np.arange(m) / m
    r = TUBE_RADIUS_M * (1 - 0.1 * np.cos(2 * np.pi * s / 0.04))[:, None] * np.ones(m)
    verts = np.stack([r * np.cos(theta), r * np.sin(theta), np.broadcast_to(s[:, None], (n, m))], -1).reshape(-1, 3)
    mesh = ColonRenderMesh(tube_faces(n, m, cap=False), np.repeat(s, m), np.tile(theta, n))
    view = EndoscopeView(mesh, W, H, math.radians(140))
    view.update_window(lambda a, b: verts[a:b], None)
    return view, RenderTarget(W, H)


def _render(view, target, eye, forward, up):
    view.render(np.array(eye, float), np.array(forward, float), np.array(up, float), (0, 0), target.fbo)
    return target.read_rgb().astype(float)


def _radius_grid():
    y, x = np.mgrid[0:H, 0:W]
    return np.hypot(x - (W - 1) / 2, y - (H - 1) / 2) / (0.5 * min(W, H) - 1)


def test_renderer_is_mesa_software(window):
    assert "llvmpipe" in renderer_name() or renderer_name()


def test_straight_lumen_centre_is_darker_than_the_wall_ring(straight_view):
    view, target = straight_view
    img = _render(view, target, [0, 0, 0.05], [0, 0, 1], [0, 1, 0])
    lum = img @ np.array([0.2126, 0.7152, 0.0722])
    r = _radius_grid()
    centre = lum[r < 0.1].mean()
    ring = lum[(r > 0.8) & (r < 0.95)].mean()
    assert ring > 60, f"the wall beside the tip should be lit, mean {ring:.1f}"
    assert centre < 0.35 * ring, f"lumen centre {centre:.1f} not much darker than the wall ring {ring:.1f}"
    # Outside the image circle: black, as a real scope's circular image.
    assert img[r > 1.02].max() < 5


def test_wall_at_5_mm_is_bright_and_red(straight_view):
    view, target = straight_view
    # 5 mm from the wall (tube radius 25 mm minus the fold profile at z = 0.1 m: there cos = 1, radius 22.5 mm).
    wall_x = TUBE_RADIUS_M * (1 - 0.1 * math.cos(2 * math.pi * 0.1 / 0.04))
    img = _render(view, target, [wall_x - 0.005, 0, 0.1], [1, 0, 0], [0, 0, 1])
    inside = img[_radius_grid() < 0.9]
    mean = inside.mean(axis=0)
    assert view.last_redout == 0.0
    assert mean.mean() > 120, f"image not bright: mean RGB {mean}"
    assert mean[0] > 200 and mean[0] > 1.3 * mean[1] and mean[0] > 1.3 * mean[2], f"not red-dominant: {mean}"


def test_lens_on_the_wall_is_red_out(straight_view):
    view, target = straight_view
    wall_x = TUBE_RADIUS_M * (1 - 0.1 * math.cos(2 * math.pi * 0.1 / 0.04))
    img = _render(view, target, [wall_x - 0.0008, 0, 0.1], [1, 0, 0], [0, 0, 1])
    mean = img[_radius_grid() < 0.9].mean(axis=0)
    assert view.last_redout == 1.0
    assert mean[0] > 2.5 * mean[1] and mean[0] > 2.5 * mean[2], f"red-out should be nearly pure red: {mean}"


@pytest.fixture(scope="module")
def scene_frame(window):
    """The default scene with the scope 0.45 m in (laid along the rest centreline), rendered by a session renderer
    with a small layout."""
    from physics.world import initial_world_state, world_outputs
    from sim.controls import HandState
    from sim.render.frame import SessionRenderer, make_layout
    from sim.scene import build_scene
    from sim.session.snapshot import take_snapshot

    scene = build_scene(seed=0)
    state = initial_world_state(scene.world, 0.45)
    snap = take_snapshot(scene, state, world_outputs(scene.world, state), HandState(depth_m=0.45), 0,
                         phase="insertion", scores={"progression_score": "42.0"})
    renderer = SessionRenderer(scene, layout=make_layout(W + 160 - 120, H), window=window)
    return scene, snap, renderer


def test_scope_guide_shows_the_scope_at_its_coils(scene_frame):
    from sim.render.scope_guide import GuideFrame

    scene, snap, renderer = scene_frame
    renderer.render(snap, show_coils=False)
    img = renderer.guide_image().astype(int)
    g = renderer.layout.guide_px
    frame: GuideFrame = renderer.guide.frame
    inside = snap.coil_positions_m[scene.rod.coil_arc_from_tip_m <= snap.inserted_length_m]
    assert len(inside) >= 4
    blue = (img[..., 2] > img[..., 0] + 40) & (img[..., 2] > 90)
    for panel in (0, 1):
        part = blue[panel * g:(panel + 1) * g]
        px = frame.project(inside, panel, g)
        for x, y in px:
            xi, yi = int(round(x)), int(round(y))
            window = part[max(yi - 1, 0):yi + 2, max(xi - 1, 0):xi + 2]
            assert window.any(), f"panel {panel}: no scope drawn at coil pixel ({xi}, {yi})"
        # And the scope is only where the scope is: every blue pixel lies near the projected scope axis.
        axis = frame.project(np.vstack([snap.rod_position_m[scene.rod.segment_arc_from_tip_m
                                                           <= snap.inserted_length_m + 0.08]]), panel, g)
        ys, xs = np.nonzero(part[22:])  # below the panel's caption (light blue text)
        ys += 22
        d = np.min(np.hypot(xs[:, None] - axis[None, :, 0], ys[:, None] - axis[None, :, 1]), axis=1)
        assert np.percentile(d, 99) < 6.0
    # With the coil dots on, they are yellow at the coils.
    renderer.render(snap, show_coils=True)
    img = renderer.guide_image().astype(int)
    x, y = frame.project(inside[:1], 0, g)[0]
    r_, g_, b_ = img[int(round(y)), int(round(x))]
    assert r_ > 200 and g_ > 180 and b_ < 100


def test_scope_guide_shows_the_assistants_hand_where_it_presses(scene_frame):
    """With a hand on the sigmoid (physics/abdominal_press.py) the front panel shows a glove-green disc of the
    footprint's radius round the held particles' mean, and no green anywhere without it (nor in the side panel)."""
    from dataclasses import replace

    from physics.abdominal_press import AbdominalPress
    from physics.colon_body import set_press
    from physics.world import initial_world_state

    scene, snap, renderer = scene_frame
    state = initial_world_state(scene.world, snap.inserted_length_m)
    set_press(scene.colon, state.colon, AbdominalPress("sigmoid"))
    centre = state.colon.press_anchor_m.mean(axis=0)
    pressed = replace(snap, press_centre_m=centre, press_radius_m=AbdominalPress().radius_m)
    g = renderer.layout.guide_px
    frame = renderer.guide.frame
    greens = []
    for s in (pressed, snap):
        renderer.render(s, show_coils=False)
        img = renderer.guide_image().astype(int)
        greens.append((img[..., 1] > img[..., 0] + 30) & (img[..., 1] > img[..., 2] + 30))
    x, y = frame.project(centre[None, :], 0, g)[0]
    radius_px = AbdominalPress().radius_m / (2.0 * frame.half_size_m) * g
    ys, xs = np.nonzero(greens[0][:g])
    r = np.hypot(xs - x, ys - y)
    print(f"hand disc: {r.size} green pixels, radius {radius_px:.1f} px, farthest {r.max():.1f} px")
    assert r.size > 0.5 * math.pi * radius_px ** 2  # most of the disc (the scope and colon show through it)
    assert r.max() < radius_px + 2.0
    assert not greens[0][g:].any() and not greens[1].any()


def test_session_frame_has_endoscope_guide_and_hud(scene_frame):
    scene, snap, renderer = scene_frame
    renderer.render(snap)
    img = renderer.composite_image().astype(float)
    w, h = renderer.layout.size
    assert img.shape == (h, w, 3)
    endo = renderer.endoscope_image().astype(float)
    lum = endo @ np.array([0.2126, 0.7152, 0.0722])
    assert lum.max() > 100 and lum.mean() > 20  # the colon is lit
    hud = img[h - renderer.layout.hud_height:]
    assert (hud.max(axis=2) > 150).sum() > 200  # text was drawn in the HUD strip
    # The score panel shows the lines it is given: text appears in its column only when there are lines.
    col = slice(int(0.6 * w), w)
    with_scores = (hud[:, col].max(axis=2) > 150).sum()
    snap.hud.scores.clear()
    renderer.render(snap)
    without = (renderer.composite_image().astype(float)[h - renderer.layout.hud_height:, col].max(axis=2) > 150).sum()
    assert with_scores > without


def _debug_save(img, path):  # pragma: no cover - used by hand
    from sim.session.video import save_png
    save_png(path, img)
