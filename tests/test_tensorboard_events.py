"""TensorBoard event files written beside the JSON curves: the framing and the protobufs read
back by a tiny reader here (tensorboard is no dependency), and by TensorBoard itself where it
happens to be installed."""

import json
import struct

import pytest

from learning.curves import append_point, curve_path, events_dir
from learning.tensorboard_events import EventFile, crc32c, masked_crc32c


def read_records(path) -> list[bytes]:
    """The TFRecords of a file, both CRCs checked."""
    data, records, at = path.read_bytes(), [], 0
    while at < len(data):
        header = data[at:at + 8]
        (length,) = struct.unpack("<Q", header)
        assert struct.unpack("<I", data[at + 8:at + 12])[0] == masked_crc32c(header)
        body = data[at + 12:at + 12 + length]
        assert struct.unpack("<I", data[at + 12 + length:at + 16 + length])[0] == masked_crc32c(body)
        records.append(body)
        at += 16 + length
    return records


def fields(message: bytes) -> list[tuple[int, object]]:
    """(field number, value) pairs of a protobuf message: varints as ints, the rest as bytes."""
    out, at = [], 0
    while at < len(message):
        key, at = varint(message, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = varint(message, at)
        elif wire == 2:
            length, at = varint(message, at)
            value, at = message[at:at + length], at + length
        else:
            size = {1: 8, 5: 4}[wire]
            value, at = message[at:at + size], at + size
        out.append((number, value))
    return out


def varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return value, at


def decode_event(message: bytes) -> dict:
    event = {"scalars": []}
    for number, value in fields(message):
        if number == 1:
            event["wall_time"] = struct.unpack("<d", value)[0]
        elif number == 2:
            event["step"] = value - (1 << 64) if value >> 63 else value  # int64
        elif number == 3:
            event["file_version"] = value.decode()
        elif number == 5:
            for _, summary_value in fields(value):
                parts = dict(fields(summary_value))
                event["scalars"].append((parts[1].decode(), struct.unpack("<f", parts[2])[0]))
        elif number == 7:  # session_log (6 is the deprecated log_message)
            event["session_start"] = dict(fields(value))[1] == 1
    return event


def read_events(folder) -> list[dict]:
    [path] = folder.glob("events.out.tfevents.*")
    return [decode_event(r) for r in read_records(path)]


def test_crc32c_matches_the_castagnoli_check_value():
    assert crc32c(b"123456789") == 0xE3069283 and crc32c(b"") == 0


def test_scalars_read_back_with_their_tags_steps_and_values(tmp_path):
    events_file = EventFile(tmp_path / "run")
    events_file.add_scalars(1, {"loss": 3.0, "lr": 1e-4}, wall_time=100.5)
    events_file.add_scalars(2, {"loss": 2.0, "huge": 1e40, "nan": float("nan")}, wall_time=101.0)
    events_file.add_scalars(-3, {"loss": 9.0})  # a negative int64 step: ten varint bytes
    first, *events = read_events(tmp_path / "run")
    assert first["file_version"] == "brain.Event:2"
    scalars = [(e["step"], tag, value) for e in events for tag, value in e["scalars"]]
    assert scalars[:3] == [(1, "loss", 3.0), (1, "lr", pytest.approx(1e-4)), (2, "loss", 2.0)]
    assert scalars[3][2] == float("inf") and scalars[4][2] != scalars[4][2] and scalars[5] == (-3, "loss", 9.0)
    assert events[1]["wall_time"] == 100.5
    # a session starts at the first step and again where the steps go back (a resumed run)
    assert [e["step"] for e in events if e.get("session_start")] == [1, -3]


def test_append_point_writes_every_number_to_the_run_events(tmp_path):
    checkpoints = tmp_path / "store" / "checkpoints"
    model = checkpoints / "reward-models" / "r1"
    for step, loss in ((1, 3.0), (2, 2.0), (2, 1.9)):  # step 2 again: resumed from step 1
        append_point(model, {"step": step, "loss": loss, "note": "text", "ok": True, "steps": 4})
    assert json.loads(curve_path(model).read_text().splitlines()[0]).keys() == {
        "step", "loss", "note", "ok", "steps", "time"}  # the JSON lines keep every field
    folder = events_dir(model)
    assert folder == checkpoints / "tensorboard" / "reward-models" / "r1"
    assert not [p for p in model.parent.iterdir() if p.is_dir()]  # no folder to mistake for a model
    first, *events = read_events(folder)
    assert [(e["step"], e["scalars"]) for e in events if e["scalars"]] == [
        (1, [("loss", 3.0)]), (1, [("steps", 4.0)]), (2, [("loss", 2.0)]), (2, [("steps", 4.0)]),
        (2, [("loss", pytest.approx(1.9))]), (2, [("steps", 4.0)])]
    assert [e["step"] for e in events if e.get("session_start")] == [1, 2]
    assert events_dir(tmp_path / "model") == tmp_path / "model.tb"  # a checkpoint outside a store


def test_tensorboard_reads_the_events_and_drops_the_steps_a_resume_rewrote(tmp_path):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    model = tmp_path / "checkpoints" / "base"
    for step, loss in ((1, 3.0), (2, 2.0), (3, 1.5), (2, 1.9), (3, 1.4)):
        append_point(model, {"step": step, "loss": loss})
    accumulator = event_accumulator.EventAccumulator(str(events_dir(model)))
    accumulator.Reload()
    assert [(s.step, pytest.approx(s.value)) for s in accumulator.Scalars("loss")] == [(1, 3.0), (2, 1.9), (3, 1.4)]
