"""The `colosim` command line. Subcommands are grouped by subject; each has its own `--help`.

    colosim colon generate   make the procedural colon (seed, named parameters) and save it
    colosim colon import     turn a segmented colon surface (STL/OBJ/PLY/OFF/GLB/VTK) into a colon asset
    colosim colon info       print a colon's figures (text, or --json)
    colosim colon show       write a PNG picture of a colon
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


if __name__ == "__main__":
    main()
