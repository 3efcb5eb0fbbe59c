"""TensorBoard scalar event files, written in pure Python (no tensorboard or protobuf package).

An event file is a sequence of TFRecords -- uint64 length, masked CRC-32C of the length, the
data, masked CRC-32C of the data -- each holding one ``Event`` protobuf, encoded here by hand:
first ``file_version: "brain.Event:2"``, then one event per scalar (wall_time, step, a Summary
with one Value: tag and simple_value). Records are appended and flushed one logged line at a
time, so a crash loses at most that line, as for the JSON curve beside it.

A run that goes back in steps (resumed from an older checkpoint) first writes a
``SessionLog.START`` at its new step: TensorBoard then drops the steps the earlier run wrote
from there on, as ``read_curve`` keeps the last line of a step written twice.
"""

from __future__ import annotations

import math
import socket
import struct
import time
from pathlib import Path

FILE_VERSION = b"brain.Event:2"
SESSION_START = 1  # SessionLog.SessionStatus.START
FLOAT32_MAX = 3.4028234663852886e38


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1  # Castagnoli, bit-reversed
        table.append(crc)
    return table


CRC_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """TFRecord's mask: a CRC stored inside CRC-checked data must not look like a plain CRC."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def record(data: bytes) -> bytes:
    """``data`` in TFRecord framing."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc32c(length)) + data + struct.pack("<I", masked_crc32c(data))


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # a negative int64 as protobuf writes it: ten bytes, two's complement
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes(out + bytes([n]))


def _bytes_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _event(wall_time: float, step: int, body: bytes = b"") -> bytes:
    return b"\x09" + struct.pack("<d", wall_time) + b"\x10" + _varint(step) + body  # fields 1 and 2


def file_version_event(wall_time: float) -> bytes:
    return b"\x09" + struct.pack("<d", wall_time) + _bytes_field(3, FILE_VERSION)


def session_start_event(step: int, wall_time: float) -> bytes:
    return _event(wall_time, step, _bytes_field(7, b"\x08" + _varint(SESSION_START)))  # session_log


def scalar_event(tag: str, value: float, step: int, wall_time: float) -> bytes:
    value = float(value)
    if math.isfinite(value) and abs(value) > FLOAT32_MAX:
        value = math.copysign(math.inf, value)  # struct refuses a float32 out of range
    summary_value = _bytes_field(1, tag.encode()) + b"\x15" + struct.pack("<f", value)
    return _event(wall_time, step, _bytes_field(5, _bytes_field(1, summary_value)))


class EventFile:
    """One ``events.out.tfevents.<time>.<host>`` file in ``folder``, appended a line at a time."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}"
        self.last_step: int | None = None

    def add_scalars(self, step: int, values: dict[str, float], wall_time: float | None = None) -> None:
        wall_time = time.time() if wall_time is None else wall_time
        events = []
        if not self.path.is_file():  # new, or removed meanwhile (a model deleted and trained again)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            events.append(file_version_event(wall_time))
            self.last_step = None
        if self.last_step is None or step <= self.last_step:  # a fresh or resumed run: purge from here
            events.append(session_start_event(step, wall_time))
        events += [scalar_event(tag, value, step, wall_time) for tag, value in values.items()]
        with open(self.path, "ab") as f:  # opened per line: no handle held per run in long processes
            f.write(b"".join(record(e) for e in events))
        self.last_step = step
