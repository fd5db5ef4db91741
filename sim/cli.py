"""The `colosim` command line. Subcommands are grouped by subject; each has its own `--help`.

    colosim colon generate   make the procedural colon (seed, named parameters) and save it
    colosim colon import     turn a segmented colon surface (STL/OBJ/PLY/OFF/GLB/VTK) into a colon asset
    colosim colon info       print a colon's figures (text, or --json)
    colosim colon show       write a PNG picture of a colon
    colosim score            score recorded procedures (coordinate-log folders) into JSON, CSV and pictures
    colosim run              a training session: a window with a display, else a headless autopilot session
    colosim replay           drive the scope from a recording's coordinate logs (coil targets), render and score
    colosim replay --exact   re-run a recorded session from its controls log
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import click

from sim import __version__


def _print_warnings(caught: list[warnings.WarningMessage]) -> None:
    for w in caught:
        click.echo(f"warning: {w.message}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="colosim")
def main() -> None:
    """colosim: an open-source colonoscopy simulator engine."""


@main.group()
def colon() -> None:
    """Colon assets: generate, import, inspect and picture them."""


def _load_or_generate(source: str, seed: int):
    """A colon from a saved asset path, or the procedural colon when SOURCE is 'procedural'."""
    if source == "procedural":
        from sim.colon.procedural import generate_colon

        return generate_colon(seed)
    from sim.colon.asset import load_asset

    try:
        return load_asset(source)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


@colon.command("generate")
@click.option("--seed", default=0, show_default=True, help="Random seed; the same seed gives the same colon.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default="out/colon.ply", show_default=True,
              help="Mesh file to write (.ply .obj .stl .glb); the sidecar <stem>.colon.npz goes beside it.")
@click.option("--params", "params_path", type=click.Path(exists=True, dir_okay=False),
              help="Colon parameter TOML (default: the bundled assets/colon/default.toml).")
@click.option("--total-length", type=float, help="Total length (m), 1.2-2.0.")
@click.option("--sigmoid-redundancy", type=float, help="Multiplies the sigmoid length (1 = default).")
@click.option("--transverse-redundancy", type=float, help="Multiplies the transverse length (1 = default).")
@click.option("--diameter-scale", type=float, help="Multiplies every lumen diameter (1 = default).")
@click.option("--fold-depth", type=float, help="Haustral fold depth (m), default 0.006.")
@click.option("--ring-spacing", type=float, default=0.0015, show_default=True, help="Mesh ring spacing (m).")
@click.option("--around", "n_theta", type=int, default=48, show_default=True, help="Mesh samples around a ring.")
def colon_generate(seed, out_path, params_path, total_length, sigmoid_redundancy, transverse_redundancy,
                   diameter_scale, fold_depth, ring_spacing, n_theta) -> None:
    """Generate the procedural adult colon and save it (mesh + sidecar)."""
    from sim.colon.anatomy import load_colon_params
    from sim.colon.procedural import ColonGenerationError, generate_colon

    try:
        params = load_colon_params(params_path).with_overrides(
            total_length_m=total_length, sigmoid_redundancy=sigmoid_redundancy,
            transverse_redundancy=transverse_redundancy, diameter_scale=diameter_scale, fold_depth_m=fold_depth)
        asset = generate_colon(seed, params, ring_spacing_m=ring_spacing, n_theta=n_theta)
        mesh, side = asset.save(out_path)
    except (ValueError, ColonGenerationError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {mesh} and {side}: {asset.length_m * 1000:.0f} mm, {len(asset.faces)} triangles (seed {seed})")


@colon.command("import")
@click.argument("mesh", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out_path", type=click.Path(dir_okay=False), help="Asset mesh to write (default: out/<stem>.ply).")
@click.option("--units", type=click.Choice(["auto", "mm", "m"]), default="auto", show_default=True)
@click.option("--frame", type=click.Choice(["LPS", "RAS"]), default="LPS", show_default=True,
              help="Axes of the file's coordinates (DICOM LPS, or RAS as many tools use).")
@click.option("--anal-point", nargs=3, type=float, help="A point at the anal end (file's frame and units).")
@click.option("--cecal-point", nargs=3, type=float, help="A point at the cecal end (file's frame and units).")
@click.option("--landmarks", "landmarks_path", type=click.Path(exists=True, dir_okay=False),
              help="JSON file {landmark name: [x, y, z]} in the file's frame and units.")
@click.option("--ring-spacing", type=float, default=0.0025, show_default=True)
@click.option("--around", "n_theta", type=int, default=48, show_default=True)
def colon_import(mesh, out_path, units, frame, anal_point, cecal_point, landmarks_path, ring_spacing, n_theta) -> None:
    """Turn a segmented colon surface into a colon asset (centreline, r(s, theta), segments, landmarks)."""
    from sim.colon.import_mesh import ColonImportError, import_colon

    landmarks = None
    if landmarks_path:
        try:
            landmarks = json.loads(Path(landmarks_path).read_text())
        except json.JSONDecodeError as exc:
            raise click.ClickException(f"{landmarks_path}: not valid JSON ({exc})") from None
    out_path = out_path or str(Path("out") / (Path(mesh).stem + ".ply"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            asset = import_colon(mesh, units=units, frame=frame, anal_point=anal_point or None,
                                 cecal_point=cecal_point or None, landmarks=landmarks,
                                 ring_spacing_m=ring_spacing, n_theta=n_theta, progress=sys.stderr.isatty())
        except (ColonImportError, ValueError, FileNotFoundError) as exc:
            _print_warnings(caught)
            raise click.ClickException(str(exc)) from None
    _print_warnings(caught)
    written, side = asset.save(out_path)
    click.echo(f"wrote {written} and {side}: {asset.length_m * 1000:.0f} mm centreline")


@colon.command("info")
@click.argument("source", default="procedural")
@click.option("--seed", default=0, show_default=True, help="Seed when SOURCE is 'procedural'.")
@click.option("--json", "as_json", is_flag=True, help="Print the same figures as JSON.")
def colon_info(source, seed, as_json) -> None:
    """Print a colon's figures: lengths, radii, landmarks. SOURCE is an asset mesh/sidecar or 'procedural'."""
    from sim.colon.summary import colon_summary, format_summary

    summary = colon_summary(_load_or_generate(source, seed))
    click.echo(json.dumps(summary, indent=2) if as_json else format_summary(summary))


@colon.command("show")
@click.argument("source", default="procedural")
@click.option("--seed", default=0, show_default=True, help="Seed when SOURCE is 'procedural'.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default="out/colon.png", show_default=True)
def colon_show(source, seed, out_path) -> None:
    """Write a PNG picture of a colon: frontal and lateral views, segments in colour, landmarks labelled."""
    from sim.colon.picture import draw_colon_picture

    asset = _load_or_generate(source, seed)
    title = source if source != "procedural" else f"procedural colon, seed {seed}"
    click.echo(f"wrote {draw_colon_picture(asset, out_path, title=title)}")


@main.command("score")
@click.argument("dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="out/scores", show_default=True,
              help="Folder for <case>/scores.json, <case>/*.png and scores.csv.")
@click.option("--workers", "-j", type=int, default=None, help="Processes (default: one per core).")
@click.option("--no-pictures", is_flag=True, help="Skip the PNGs (much faster).")
@click.option("--dpi", type=int, default=100, show_default=True, help="Resolution of the pictures.")
@click.option("--cohort", "cohort_path", type=click.Path(exists=True, dir_okay=False),
              help="Reference cohort JSON for the progression and retraction composites (default: the shipped "
                   "colosim expert cohort, assets/cohorts/colosim_expert.json).")
@click.option("--no-cohort", is_flag=True, help="No composites (they need a reference cohort).")
def score(dirs, out_dir, workers, no_pictures, dpi, cohort_path, no_cohort) -> None:
    """Score recorded procedures without anatomy. Each DIR is a procedure folder (X/Y/Z/T.txt, LogFile_P.txt) or a
    folder of them; a coverage.npz / forces.npz beside a log (written by a session) adds coverage and forces."""
    from sim.scoring.batch import BatchOptions, find_cases, score_folders
    from sim.scoring.cohort import expert_cohort_path, load_cohorts

    try:
        cases = find_cases(dirs)
        cohorts = {} if no_cohort else load_cohorts(cohort_path or expert_cohort_path())
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    options = BatchOptions(pictures=not no_pictures, dpi=dpi, cohorts=cohorts)
    result = score_folders(cases, out_dir, workers=workers, options=options, progress=True)
    for outcome in result.outcomes:
        for message in outcome.warnings:
            click.echo(f"warning: {message}", err=True)
        if outcome.error:
            click.echo(f"error: {outcome.case}: {outcome.error}", err=True)
    click.echo(f"scored {len(result.outcomes) - result.n_failed} of {len(result.outcomes)} procedures; "
               f"summary {result.csv_path}")
    if result.n_failed:
        raise SystemExit(1)


@main.command("run")
@click.option("--seed", default=0, show_default=True, help="Seed of the procedural colon.")
@click.option("--colon", "colon_path", type=click.Path(exists=True, dir_okay=False),
              help="A colon asset (mesh with its .colon.npz sidecar) instead of the procedural colon.")
@click.option("--scope", "scope_path", type=click.Path(exists=True, dir_okay=False),
              help="Scope model TOML (default: the bundled adult colonoscope).")
@click.option("--headless", is_flag=True, help="No window even if a display is available.")
@click.option("--seconds", type=float, default=20.0, show_default=True,
              help="Headless: simulated length of the session.")
@click.option("--driver", type=click.Choice(["autopilot", "scripted"]), default="autopilot", show_default=True,
              help="Headless: who drives the scope.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="out/session", show_default=True,
              help="Headless: folder for the pictures and the video.")
@click.option("--replays", "replays_dir", type=click.Path(file_okay=False), default="replays", show_default=True,
              help="Folder that gets the session's recording folder.")
@click.option("--fps", type=float, default=12.0, show_default=True,
              help="Headless: video frames per simulated second.")
@click.option("--size", default="640x480", show_default=True, help="Endoscope image size, WIDTHxHEIGHT.")
@click.option("--no-video", is_flag=True, help="Headless: pictures and recording only.")
@click.option("--no-scores", is_flag=True, help="Do not run live scoring (faster).")
def run(seed, colon_path, scope_path, headless, seconds, driver, out_dir, replays_dir, fps, size, no_video,
        no_scores) -> None:
    """A training session on the default procedural colon (or --colon, --seed, --scope).

    With a display: a window driven by keyboard, mouse or gamepad (F1 shows the keys). Without one, or with
    --headless: a fixed-length session driven by the autopilot that writes pictures and a video to --out. Either
    way the session's recording (controls log, coordinate logs, session log) goes to a new folder under --replays.
    """
    from sim.render.context import display_available
    from sim.session.app import parse_size, session_scene

    try:
        endoscope_size = parse_size(size)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--size") from None
    if seconds <= 0:
        raise click.BadParameter(f"must be positive, got {seconds}", param_hint="--seconds")
    try:
        scene, info = session_scene(seed, colon_path, scope_path)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if not headless and display_available():
        from sim.session.window import run_window

        folder = run_window(scene, info, replays_dir=replays_dir, endoscope_size=endoscope_size,
                            scoring=not no_scores, echo=click.echo)
        click.echo(f"recording: {folder}")
        return
    from sim.session.headless import run_headless

    n_frames = max(1, round(seconds * fps))
    click.echo(f"colosim run: headless, {seconds:g} s simulated, driver {driver}, about {n_frames} frames")

    progress = _decile_progress(info.dt_s)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_headless(scene, info, seconds=seconds, out_dir=out_dir, replays_dir=replays_dir, driver=driver,
                              fps=fps, endoscope_size=endoscope_size, video=not no_video, scoring=not no_scores,
                              progress=progress)
    _print_warnings(caught)
    click.echo(f"recording: {result.recording}")
    if result.video is not None:
        click.echo(f"video: {result.video} ({result.frames} frames)")
    click.echo("pictures: " + ", ".join(str(p) for p in result.pictures))
    sim_s = result.steps * info.dt_s
    click.echo(f"{result.steps} steps ({sim_s:.1f} s simulated) in {result.total_wall_s:.1f} s: physics "
               f"{1000 * result.physics_wall_s / max(result.steps, 1):.1f} ms/step, render "
               f"{1000 * result.render_wall_s / max(result.frames, 1):.0f} ms/frame")


def _point_mm(text: str | None, option: str):
    """An option's "X,Y,Z" in mm as a point (3,) in m; None when the option was not given."""
    if text is None:
        return None
    import numpy as np

    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 3:
        raise click.BadParameter(f"expected three numbers in mm, X,Y,Z; got {text!r}", param_hint=option)
    return np.array(values) / 1000.0


@main.command("replay")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--exact", is_flag=True, help="Re-run the session's controls log (controls.jsonl) step by step.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="out/replay", show_default=True,
              help="Folder for the replay's pictures, video, coordinate logs, coverage and replay.json.")
@click.option("--seed", type=int, default=None,
              help="Procedural colon to replay in (default: the recording's session.json, else seed 0).")
@click.option("--colon", "colon_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Colon asset to replay in (instead of the recording's or the procedural one).")
@click.option("--scope", "scope_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Scope model TOML (default: the recording's, else the bundled adult colonoscope).")
@click.option("--translate", default=None, metavar="X,Y,Z",
              help="Registration: no rotation, this translation in mm (recording frame -> colon frame).")
@click.option("--no-register", is_flag=True, help="Registration: identity (the recording is in the colon's frame).")
@click.option("--verge", default=None, metavar="X,Y,Z",
              help="Registration: the anal verge in the recording's frame, mm (default: the first tip reading; give "
                   "it for a recording that starts with the scope already in).")
@click.option("--seconds", type=float, default=None, help="Replay only the first SECONDS of simulated time.")
@click.option("--fps", type=float, default=12.0, show_default=True, help="Video frames per simulated second.")
@click.option("--size", default="640x480", show_default=True, help="Endoscope image size, WIDTHxHEIGHT.")
@click.option("--no-video", is_flag=True, help="Pictures, logs and scores only.")
@click.option("--no-render", is_flag=True, help="No pictures or video at all (logs and scores only; fastest).")
@click.option("--no-scores", is_flag=True, help="Do not run live scoring (no coverage).")
def replay(folder, exact, out_dir, seed, colon_path, scope_path, translate, no_register, verge, seconds, fps, size,
           no_video, no_render, no_scores) -> None:
    """Replay a recorded procedure.

    Without --exact: FOLDER is a coordinate-log folder (X/Y/Z/T.txt, LogFile_P.txt; a colosim recording or another
    one). The recording is registered to the colon (a colosim recording: identity, on the colon its session.json
    names; otherwise the first tip reading, or --verge, goes to the anal verge and the tip path is rotated onto the
    colon's centreline, Kabsch then ICP; --translate / --no-register override), each recorded coil pulls the scope
    at its arc length with a spring-damper, the insertion depth follows the coils, and physics does the rest. Writes the
    pictures, a video, the replayed scope's coordinate logs, coverage and scores, and replay.json (registration
    and the replayed tip's error against the recording) into --out; `colosim score OUT` scores it.

    --exact re-runs FOLDER's controls log through the same physics and checks that the final state is
    bit-identical to the recorded one.
    """
    if exact:
        _replay_exact(folder)
        return
    import numpy as np

    from sim.session.app import parse_size
    from sim.session.log_replay import replay_log

    try:
        endoscope_size = parse_size(size)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--size") from None
    translate_m = _point_mm(translate, "--translate")
    verge_m = _point_mm(verge, "--verge")
    progress = _decile_progress()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = replay_log(folder, out_dir, seed=seed, colon_path=colon_path, scope_path=scope_path,
                                translate_m=translate_m, register=not no_register, verge_m=verge_m,
                                render=not no_render, video=not no_video, fps=fps, endoscope_size=endoscope_size,
                                scoring=not no_scores, max_seconds=seconds, progress=progress)
        except (FileNotFoundError, ValueError) as exc:
            _print_warnings(caught)
            raise click.ClickException(str(exc)) from None
    _print_warnings(caught)
    reg = result.registration
    click.echo(f"registration: {reg.method}, rotation {np.degrees(reg.rotation_angle_rad()):.1f} deg, translation "
               f"{np.round(reg.translation_m * 1000, 1).tolist()} mm")
    click.echo(f"replayed {result.steps} steps ({result.time_s:.2f} s simulated); tip path error against the "
               f"recording: RMS {1000 * result.tip_error.rms_m:.1f} mm, max {1000 * result.tip_error.max_m:.1f} mm")
    if result.video is not None:
        click.echo(f"video: {result.video}")
    if result.pictures:
        click.echo("pictures: " + ", ".join(str(p) for p in result.pictures))
    click.echo(f"output: {result.out_dir}")


def _replay_exact(folder) -> None:
    from sim.session.replay import replay_exact

    try:
        result = replay_exact(folder)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"replayed {result.steps} steps ({result.time_s:.3f} s simulated); final state "
               f"{result.digest[:16]}")
    if not result.recorded_digest:
        click.echo("the recording has no final state (interrupted session): nothing to compare")
    elif result.identical:
        click.echo("identical to the recorded final state")
    else:
        click.echo(f"DIFFERENT from the recorded final state {result.recorded_digest[:16]}", err=True)
        raise SystemExit(1)


def _decile_progress(dt_s: float | None = None):
    """A ``progress(step, total)`` callback that prints each 10 % once (with the simulated time when dt_s is
    given): long headless runs show they are alive."""
    shown = [-1]

    def progress(step: int, total: int) -> None:
        decile = 10 * step // max(total, 1)
        if decile > shown[0]:
            shown[0] = decile
            simulated = f"  ({step * dt_s:5.1f} s simulated)" if dt_s is not None else ""
            click.echo(f"  {10 * decile:3d} %{simulated}")

    return progress


if __name__ == "__main__":
    main()
