"""Rendering: the endoscope view, the scope-guide view and the HUD, OpenGL 3.3 core through pyglet.

DESIGN.md, "Rendering". This package is a leaf: nothing outside it imports it except the session's window and
headless front ends, the CLI and the benchmarks, so scoring, logs and replays run without OpenGL.

Modules: `context` (a GL context, headless through EGL or in a window), `gl` (shader, buffer and target helpers),
`mucosa` (the procedural mucosa texture), `meshes` (per-frame normals and the scope tube), `endoscope` (the fisheye
endoscope view), `scope_guide` (front and side view of the scope in the colon), `hud` (text panel), `frame`
(the session's composite picture from a `RenderSnapshot`).
"""
