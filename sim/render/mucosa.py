"""The procedural mucosa texture, made at start-up with numpy: pink mucosa with a fine pit pattern, blotches and a
network of submucosal vessels.

Tileable in both directions (band-limited noise made in the Fourier domain is periodic by construction), so the
texture repeats around the lumen (u = theta / 2 pi times a whole number) and along it without seams. Vessels are the
zero lines of two noise fields (the ridges of |n| -> thin branching curves, the usual "ridged noise" trick), thick
dark-red ones from low frequencies and thin ones from higher ones.
"""

from __future__ import annotations

import numpy as np

#: Mucosa albedo (linear RGB, 0-1): a healthy colon's pink-orange.
MUCOSA_RGB = np.array([0.80, 0.30, 0.24])
#: Vessel albedo: dark red.
VESSEL_RGB = np.array([0.55, 0.08, 0.08])


def periodic_noise(size: int, frequency_cycles: float, bandwidth: float, rng: np.random.Generator) -> np.ndarray:
    """(size, size) float noise, zero mean, unit std, periodic in both axes, energy near `frequency_cycles` per
    tile (a Gaussian band of relative width `bandwidth`)."""
    white = rng.standard_normal((size, size))
    fx = np.fft.fftfreq(size) * size
    k = np.hypot(fx[:, None], fx[None, :])
    band = np.exp(-0.5 * ((k - frequency_cycles) / (bandwidth * frequency_cycles + 1e-9)) ** 2)
    band[0, 0] = 0.0
    field = np.real(np.fft.ifft2(np.fft.fft2(white) * band))
    return field / (field.std() + 1e-12)


def mucosa_texture(size: int = 512, seed: int = 0) -> np.ndarray:
    """(size, size, 3) uint8 sRGB mucosa image: rows along the colon (v), columns around it (u)."""
    rng = np.random.default_rng(seed)
    blotch = periodic_noise(size, 3.0, 0.8, rng)
    pits = periodic_noise(size, 90.0, 0.3, rng)
    # Domain warp (sample the vessel fields at displaced coordinates) makes the lines tortuous like submucosal
    # vessels; a low-frequency mask breaks the closed zero-line loops into open branches.
    warp_u = periodic_noise(size, 6.0, 0.5, rng) * size * 0.015
    warp_v = periodic_noise(size, 6.0, 0.5, rng) * size * 0.015
    rows, cols = np.mgrid[0:size, 0:size]
    wr = (rows + warp_v).astype(np.int64) % size
    wc = (cols + warp_u).astype(np.int64) % size
    big = np.abs(periodic_noise(size, 4.0, 0.5, rng))[wr, wc]
    small = np.abs(periodic_noise(size, 11.0, 0.5, rng))[wr, wc]
    big_vessel = np.clip(1.0 - big / 0.13, 0.0, 1.0) ** 1.5
    big_vessel *= np.clip(0.8 + 0.8 * periodic_noise(size, 2.0, 0.8, rng), 0.0, 1.0)
    small_vessel = np.clip(1.0 - small / 0.09, 0.0, 1.0) ** 2 * 0.6
    # Let the small vessels fade in and out so the network looks branched, not a uniform mesh.
    small_vessel *= np.clip(0.5 + 0.5 * periodic_noise(size, 2.0, 0.8, rng), 0.0, 1.0)
    vessel = np.clip(big_vessel + small_vessel, 0.0, 1.0)[..., None]
    base = MUCOSA_RGB[None, None, :] * (1.0 + 0.05 * blotch[..., None]) * (1.0 - 0.05 * pits[..., None])
    rgb = base * (1.0 - 0.75 * vessel) + VESSEL_RGB[None, None, :] * 0.75 * vessel
    rgb = np.clip(rgb, 0.0, 1.0)
    srgb = np.where(rgb <= 0.0031308, 12.92 * rgb, 1.055 * rgb ** (1 / 2.4) - 0.055)
    return (srgb * 255.0 + 0.5).astype(np.uint8)
