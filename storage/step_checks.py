"""Checks applied to every step before it is staged: shape, dtype and finiteness; and the
decoding of the step vectors stored.

A refused step raises StepValidationError naming the field and what was expected; the
episode being written is left as it was, so the caller may fix the step and go on.
"""

from __future__ import annotations

import numpy as np

from storage.errors import StepValidationError


def checked_vector(name: str, value, size: int) -> np.ndarray:
    """Return ``value`` as float32[size], refusing wrong shapes, non-float dtypes and NaN/inf."""
    array = np.asarray(value)
    if array.shape != (size,):
        raise StepValidationError(
            f"{name}: got shape {array.shape}, expected ({size},) float values"
        )
    if not np.issubdtype(array.dtype, np.floating):
        raise StepValidationError(
            f"{name}: got dtype {array.dtype}, expected a floating dtype (float32 or float64) "
            f"of shape ({size},)"
        )
    finite = np.isfinite(array)
    if not finite.all():
        bad = np.flatnonzero(~finite).tolist()
        raise StepValidationError(
            f"{name}: non-finite values (NaN or inf) at indices {bad}; expected finite "
            f"values of shape ({size},)"
        )
    return array.astype("<f4", copy=True)


def decode_vectors(blobs: list[bytes], size: int) -> np.ndarray:
    """Stored step vectors (the little-endian float32 bytes of ``checked_vector``) as a
    read-only float32 array (len(blobs), size)."""
    return np.frombuffer(b"".join(blobs), "<f4").reshape(len(blobs), size)


def checked_frame(camera: str, frame, shape: tuple[int, int, int]) -> np.ndarray:
    """Return ``frame`` as a contiguous uint8 copy of ``shape`` (H, W, C)."""
    array = np.asarray(frame)
    if array.shape != shape:
        raise StepValidationError(
            f"frames[{camera!r}]: got shape {array.shape}, expected {shape} (height, width, channels)"
        )
    if array.dtype != np.uint8:
        raise StepValidationError(
            f"frames[{camera!r}]: got dtype {array.dtype}, expected uint8 of shape {shape}"
        )
    return np.array(array, dtype=np.uint8, order="C", copy=True)
