"""MP4 video of a session's frames through imageio-ffmpeg (its wheel ships an ffmpeg binary, so no system ffmpeg
is needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class VideoWriter:
    """H.264 MP4 writer: `append(frame)` with (H, W, 3) uint8 frames of one size (even sizes), `close()`."""

    def __init__(self, path: Path | str, width: int, height: int, fps: float):
        import imageio_ffmpeg

        if width % 2 or height % 2:
            raise ValueError(f"video frame size must be even (yuv420p), got {width}x{height}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.size = (int(width), int(height))
        self._gen = imageio_ffmpeg.write_frames(str(self.path), self.size, fps=float(fps), codec="libx264",
                                                pix_fmt_out="yuv420p", macro_block_size=2, quality=6,
                                                ffmpeg_log_level="error")
        self._gen.send(None)
        self.frames = 0

    def append(self, frame: np.ndarray) -> None:
        h, w = frame.shape[:2]
        if (w, h) != self.size:
            raise ValueError(f"frame {w}x{h} does not match the video's {self.size[0]}x{self.size[1]}")
        self._gen.send(np.ascontiguousarray(frame[..., :3], dtype=np.uint8))
        self.frames += 1

    def close(self) -> None:
        if self._gen is not None:
            self._gen.close()
            self._gen = None


def save_png(path: Path | str, image: np.ndarray) -> Path:
    """Write an (H, W, 3) uint8 image as PNG (Pillow, which matplotlib already brings)."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(path)
    return path
