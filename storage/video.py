"""MP4 video files through PyAV: encode uint8 RGB frames at a fixed rate, decode them back by frame
index, and measure what a lossy codec lost (PSNR).

Frame ``i`` of a file has the presentation time ``i / fps`` exactly (the stream's time base is
``1 / fps``), which is what LeRobot's decoders look frames up by. A small keyframe interval keeps
random access cheap: a reader seeks to the keyframe before the frame it wants and decodes forward.
A file is written beside its final name and renamed on ``close``, so a crash never leaves a
half-written video under the final name.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from storage.errors import StoreError


@dataclass(frozen=True)
class VideoCodec:
    """How frames are encoded: an FFmpeg encoder, its pixel format and options."""

    name: str  # what info.json and reports call it
    encoder: str  # FFmpeg encoder
    pix_fmt: str  # what the encoder is given
    stream_pix_fmt: str  # what the file's stream then says (info.json's video.pix_fmt)
    lossless: bool
    crf: int | None = None  # libx264 quality: 0 best .. 51 worst; ~18 is visually lossless

    def options(self, keyframe_interval: int) -> dict[str, str]:
        options = {"g": str(keyframe_interval)}
        if self.lossless:
            options["qp"] = "0"
        else:
            options["crf"] = str(self.crf)
        return options


# Measured on 96x128 sim frames (benchmarks/lerobot_check.py): crf 14 costs ~2 dB over what
# yuv420p's half-resolution colour already loses (43 dB on the top camera), crf 18 ~4 dB.
DEFAULT_CRF = 14


def h264(crf: int = DEFAULT_CRF) -> VideoCodec:
    """Lossy H.264 in yuv420p: what LeRobot's decoders (torchcodec, PyAV) read everywhere."""
    if not 0 <= crf <= 51:
        raise ValueError(f"crf {crf}; expected 0 (best) .. 51 (worst)")
    return VideoCodec("h264", "libx264", "yuv420p", "yuv420p", lossless=False, crf=crf)


# H.264 High 4:4:4 on RGB planes at qp 0: bit-exact frames, still plain H.264 to a decoder.
H264_LOSSLESS = VideoCodec("h264", "libx264rgb", "rgb24", "gbrp", lossless=True)


class VideoWriter:
    """Append uint8 RGB frames (H, W, 3) to one mp4; ``close`` publishes it under ``path``."""

    def __init__(self, path: Path | str, fps: int, height: int, width: int, codec: VideoCodec,
                 keyframe_interval: int = 5):
        if codec.pix_fmt == "yuv420p" and (height % 2 or width % 2):
            raise StoreError(f"{codec.name} in yuv420p needs an even frame size, got {height}x{width}; "
                             f"export losslessly (--lossless) instead")
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.shape = (height, width, 3)
        self.frames = 0
        self._container = av.open(str(self.partial), "w", format="mp4")
        self._stream = self._container.add_stream(codec.encoder, rate=fps, options=codec.options(keyframe_interval))
        self._stream.width, self._stream.height, self._stream.pix_fmt = width, height, codec.pix_fmt

    def write(self, frames: np.ndarray) -> None:
        """Encode frames uint8 (n, H, W, 3), RGB, after those already written."""
        if frames.shape[1:] != self.shape or frames.dtype != np.uint8:
            raise StoreError(f"{self.path}: frames {frames.dtype} {frames.shape[1:]}, expected uint8 {self.shape}")
        for frame in frames:
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            picture.pts = self.frames
            self._container.mux(self._stream.encode(picture))
            self.frames += 1

    def close(self) -> Path:
        self._container.mux(self._stream.encode())  # flush the frames the encoder holds back
        self._container.close()
        os.replace(self.partial, self.path)
        return self.path

    def discard(self) -> None:
        self._container.close()
        self.partial.unlink(missing_ok=True)


@dataclass(frozen=True)
class VideoInfo:
    frames: int
    height: int
    width: int
    fps: float
    codec: str
    pix_fmt: str


def video_info(path: Path | str) -> VideoInfo:
    """What the container says about its first video stream (no decoding)."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise StoreError(f"{path}: no video stream; expected an mp4 with one")
            stream = container.streams.video[0]
            return VideoInfo(stream.frames, stream.height, stream.width, float(stream.average_rate or 0),
                             stream.codec_context.name, stream.pix_fmt)
    except av.FFmpegError as exc:
        raise StoreError(f"{path}: not a readable video ({exc})") from exc


def iter_frames(path: Path | str, fps: int, start: int = 0) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (frame index, uint8 (H, W, 3) RGB) from frame ``start`` on, in order; the index is the
    frame's presentation time times ``fps``."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if start > 0:
            container.seek(int(start / fps / stream.time_base), stream=stream, backward=True, any_frame=False)
        for frame in container.decode(stream):
            index = round(float(frame.pts * stream.time_base) * fps)
            if index >= start:
                yield index, frame.to_ndarray(format="rgb24")


def read_frames(path: Path | str, fps: int, start: int, stop: int) -> np.ndarray:
    """Frames ``start:stop`` as uint8 (stop - start, H, W, 3); raises if any is missing."""
    frames = []
    for index, frame in iter_frames(path, fps, start):
        if index >= stop:
            break
        if index != start + len(frames):
            raise StoreError(f"{path}: frame {start + len(frames)} is missing (next decoded is {index})")
        frames.append(frame)
    if len(frames) != stop - start:
        raise StoreError(f"{path}: frames {start}..{stop - 1} requested, the video ends after {start + len(frames)}")
    return np.stack(frames)


def psnr(expected: np.ndarray, actual: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of uint8 images; inf when they are equal."""
    mse = np.mean((expected.astype(np.float64) - actual.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))
