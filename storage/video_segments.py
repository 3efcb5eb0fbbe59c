"""Camera streams stored as H.264 video: one BLOB per keyframe interval ("segment") in ``frames``.

A camera stream whose codec is ``h264`` (``EpisodeSpec(codec="h264")``) keeps, in the ``frames``
table, one row per segment keyed by the step ``t`` of the segment's first frame; the codec name
in ``episode_cameras`` says how to read the rows, so there is no schema change. Why this shape:

- Each segment starts with an IDR keyframe whose packet carries the stream headers (SPS/PPS)
  in-band, so it decodes alone: reading frames ``t..t+n`` fetches and decodes only the segments
  that cover them, and only up to the last frame wanted.
- The staged writer stores a segment as soon as the next keyframe closes it, in its usual short
  transactions, and the last one in the commit transaction. So a video episode is crash-safe the
  same way a QOI one is: its rows are staged (invisible) until commit, and a killed writer's rows
  are deleted by the next writable open. Nothing lives in a side file that a crash could orphan.
- A segment is a small header (magic, frame count, crc32) and the encoder's packets, each
  prefixed by its length -- no container, no parser. The count lets a reader prove it decoded
  what was stored; the crc turns a corrupt BLOB into an error naming the segment, where FFmpeg
  would conceal the damage and hand back plausible garbage.

Encoding: libx264, preset ultrafast, crf 14, 4:4:4 chroma, a keyframe every 10 frames (0.2 s at
50 Hz). 4:2:0 chroma alone costs ~38 dB PSNR on camera-like frames with sharp coloured edges;
4:4:4 at crf 14 keeps ~41 dB at ~35 KB per noisy 480x640 frame (QOI: ~600 KB; crf 16 halves the
bytes but drops to ~40 dB, under it on small frames), at ~6 ms a frame on one core, so three
cameras at 50 Hz fit in the writer's background threads. A keyframe every 10 frames bounds what
an 8-frame clip decodes to at most 17 frames.
"""

from __future__ import annotations

import struct
import threading
import zlib
from bisect import bisect_right
from collections.abc import Iterable
from fractions import Fraction

import av
import numpy as np
from av.video.reformatter import VideoReformatter
from sqlalchemy import select

from storage.errors import StoreError
from storage.schema import Frame
from storage.video import VideoCodec

H264_SEGMENTS = VideoCodec("h264", "libx264", "yuv444p", "yuv444p", lossless=False, crf=14)
KEYFRAME_INTERVAL = 10
ENCODER_PRESET = "ultrafast"

_MAGIC = b"WMS1"
_HEADER = struct.Struct("<4sII")  # magic, frame count, crc32 of the packets that follow
_LENGTH = struct.Struct("<I")
# Each frame's own to_ndarray("rgb24") builds a fresh colour converter, which costs 10x the
# conversion itself at 96x128; one converter per thread is reused across frames.
_converters = threading.local()


class CorruptSegmentError(StoreError):
    """A stored video segment cannot be decoded into the frames it says it holds."""


def pack_segment(packets: list[bytes]) -> bytes:
    payload = b"".join(_LENGTH.pack(len(p)) + p for p in packets)
    return _HEADER.pack(_MAGIC, len(packets), zlib.crc32(payload)) + payload


def unpack_segment(blob: bytes, where: str) -> list[bytes]:
    """The packets of a segment BLOB; raises CorruptSegmentError naming ``where`` if it is damaged."""
    if len(blob) < _HEADER.size or blob[:4] != _MAGIC:
        raise CorruptSegmentError(f"{where}: not a video segment (starts {bytes(blob[:4])!r}, expected {_MAGIC!r})")
    _, count, crc = _HEADER.unpack_from(blob)
    payload = memoryview(blob)[_HEADER.size:]
    if zlib.crc32(payload) != crc:
        raise CorruptSegmentError(f"{where}: corrupt ({len(blob)} bytes, crc32 {zlib.crc32(payload):08x}, "
                                  f"expected {crc:08x} for its {count} frames)")
    packets, offset = [], 0
    while offset < len(payload):
        (size,) = _LENGTH.unpack_from(payload, offset)
        packets.append(bytes(payload[offset + _LENGTH.size:offset + _LENGTH.size + size]))
        offset += _LENGTH.size + size
    if len(packets) != count or offset != len(payload):
        raise CorruptSegmentError(f"{where}: holds {len(packets)} packets in {len(payload)} bytes, expected {count}")
    return packets


class SegmentEncoder:
    """Encode one camera's frames, in step order, into segments of one keyframe interval each.

    ``add`` and ``finish`` return the segments they completed as (first step t, BLOB); not
    thread-safe: one camera's frames go through one thread, in order."""

    def __init__(self, shape: tuple[int, int, int], codec: VideoCodec = H264_SEGMENTS,
                 keyframe_interval: int = KEYFRAME_INTERVAL):
        height, width, channels = shape
        if channels != 3:
            raise ValueError(f"{codec.name} video holds RGB frames (3 channels), not {channels}")
        self.shape = tuple(shape)
        self.frames = 0
        self._context = av.CodecContext.create(codec.encoder, "w")
        self._context.width, self._context.height, self._context.pix_fmt = width, height, codec.pix_fmt
        self._context.time_base = Fraction(1, 50)  # frames are found by their order, not their time
        # A keyframe exactly every interval (no scene-cut keyframes) keeps random access predictable;
        # one x264 thread: the writer already runs one encoder per camera in parallel.
        self._context.options = {**codec.options(keyframe_interval), "preset": ENCODER_PRESET,
                                 "keyint_min": str(keyframe_interval), "sc_threshold": "0", "threads": "1"}
        try:
            self._context.open()  # now, so a size the encoder refuses fails before anything is staged
        except av.FFmpegError as exc:
            raise StoreError(f"{codec.encoder} cannot encode {height}x{width} frames ({exc})") from exc
        self._first_t: int | None = None
        self._packets: list[bytes] = []

    def add(self, t: int, frame: np.ndarray) -> list[tuple[int, bytes]]:
        if t != self.frames:
            raise StoreError(f"video frames must come in step order: got step {t}, expected {self.frames}")
        picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        picture.pts = t
        self.frames += 1
        return self._take(self._context.encode(picture))

    def finish(self) -> list[tuple[int, bytes]]:
        """Flush the encoder; returns the remaining segments, the last one possibly short."""
        done = self._take(self._context.encode(None))
        if self._packets:
            done.append((self._first_t, pack_segment(self._packets)))
            self._packets = []
        return done

    def _take(self, packets) -> list[tuple[int, bytes]]:
        done = []
        for packet in packets:
            if packet.is_keyframe:
                if self._packets:
                    done.append((self._first_t, pack_segment(self._packets)))
                self._first_t, self._packets = int(packet.pts), []
            elif self._first_t is None:
                raise StoreError("the video encoder's first packet is not a keyframe")
            self._packets.append(bytes(packet))
        return done


def encode_segments(frames: np.ndarray) -> list[tuple[int, bytes]]:
    """All frames uint8 (n, H, W, 3) of one camera as segments (first step t, BLOB)."""
    encoder = SegmentEncoder(frames.shape[1:])
    segments = [segment for t, frame in enumerate(frames) for segment in encoder.add(t, frame)]
    return segments + encoder.finish()


def decode_segment(blob: bytes, shape: tuple[int, int, int], through: int, where: str) -> list[np.ndarray]:
    """Frames 0..``through`` of a segment as uint8 (H, W, 3) arrays; decoding stops there."""
    packets = unpack_segment(blob, where)
    if through >= len(packets):
        raise StoreError(f"{where}: its frame {through} is wanted, it holds {len(packets)} frames")
    converter = getattr(_converters, "rgb", None) or VideoReformatter()
    _converters.rgb = converter
    decoder = av.CodecContext.create("h264", "r")
    decoder.thread_count = 1  # clips are read by many DataLoader workers; one core each
    frames: list[np.ndarray] = []
    try:
        for packet in [*packets, None]:
            for picture in decoder.decode(None if packet is None else av.Packet(packet)):
                frames.append(converter.reformat(picture, format="rgb24").to_ndarray())
            if len(frames) > through:
                break
    except av.FFmpegError as exc:
        raise CorruptSegmentError(f"{where}: H.264 decoding failed ({exc})") from exc
    if len(frames) <= through or frames[0].shape != tuple(shape):
        got = frames[0].shape if frames else "nothing"
        raise CorruptSegmentError(f"{where}: decoded {len(frames)} frames of {got}, expected "
                                  f"{through + 1} of {tuple(shape)}")
    return frames


def read_segment_frames(conn, episode_id: int, camera: str, shape: tuple[int, int, int],
                        steps: Iterable[int]) -> dict[int, np.ndarray]:
    """Frames of the given steps of one video camera stream, {t: uint8 (H, W, 3)}, decoding only
    the segments that hold them."""
    steps = sorted(set(steps))
    if not steps:
        return {}
    keys = conn.execute(select(Frame.t).where(Frame.episode_id == episode_id, Frame.camera == camera,
                                              Frame.t <= steps[-1]).order_by(Frame.t)).scalars().all()
    wanted: dict[int, list[int]] = {}
    for t in steps:
        i = bisect_right(keys, t) - 1
        if i < 0:
            raise StoreError(f"episode {episode_id} camera {camera!r}: no video segment holds step {t}")
        wanted.setdefault(keys[i], []).append(t)
    blobs = dict(conn.execute(select(Frame.t, Frame.data).where(
        Frame.episode_id == episode_id, Frame.camera == camera, Frame.t.in_(list(wanted)))).all())
    found = {}
    for first, ts in wanted.items():
        where = f"episode {episode_id} camera {camera!r} video segment starting at step {first}"
        frames = decode_segment(blobs[first], shape, ts[-1] - first, where)
        found.update((t, frames[t - first]) for t in ts)
    return found
