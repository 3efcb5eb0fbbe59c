"""Frame codecs: how a camera frame (uint8 H x W x C) becomes the bytes stored in a BLOB.

``qoi`` is the default: lossless and fast enough to keep up with three 480x640 cameras at
50 Hz on two cores (PNG is ~10x slower to encode; see benchmarks/store.py). ``png`` is
lossless and smaller but slow; ``jpeg`` is lossy and only used when asked for. ``h264`` is
video: ~17x smaller than QOI on camera frames, lossy (~41 dB), and not one BLOB per frame but
one per keyframe interval (``segmented``; storage/video_segments.py encodes and reads it). The
codec name is stored with each camera stream, so a store can mix them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable

import numpy as np
import qoi
from PIL import Image


@dataclass(frozen=True)
class FrameCodec:
    name: str
    lossless: bool
    channels: tuple[int, ...]  # channel counts the codec can hold
    encode: Callable[[np.ndarray], bytes]
    decode: Callable[[bytes], np.ndarray]
    segmented: bool = False  # frames rows hold video segments, not frames: see storage/video_segments.py


def _qoi_encode(frame: np.ndarray) -> bytes:
    return qoi.encode(np.ascontiguousarray(frame))


def _qoi_decode(data: bytes) -> np.ndarray:
    return qoi.decode(data)


def _pil_encoder(fmt: str, **options) -> Callable[[np.ndarray], bytes]:
    def encode(frame: np.ndarray) -> bytes:
        image = Image.fromarray(frame[..., 0] if frame.shape[-1] == 1 else frame)
        buffer = io.BytesIO()
        image.save(buffer, fmt, **options)
        return buffer.getvalue()

    return encode


def _pil_decode(data: bytes) -> np.ndarray:
    frame = np.asarray(Image.open(io.BytesIO(data)))
    return frame[..., None] if frame.ndim == 2 else frame


def _stored_as_segments(_):
    raise ValueError("h264 streams are stored as video segments, not one frame per BLOB; "
                     "read them with TrajectoryStore.load_frames or storage.video_segments")


CODECS: dict[str, FrameCodec] = {
    "qoi": FrameCodec("qoi", True, (3, 4), _qoi_encode, _qoi_decode),
    "png": FrameCodec("png", True, (1, 3, 4), _pil_encoder("PNG", compress_level=1), _pil_decode),
    "jpeg": FrameCodec("jpeg", False, (1, 3), _pil_encoder("JPEG", quality=90), _pil_decode),
    "h264": FrameCodec("h264", False, (3,), _stored_as_segments, _stored_as_segments, segmented=True),
}
DEFAULT_CODEC = "qoi"


def get_codec(name: str) -> FrameCodec:
    try:
        return CODECS[name]
    except KeyError:
        raise ValueError(f"unknown frame codec {name!r}; expected one of {sorted(CODECS)}") from None
