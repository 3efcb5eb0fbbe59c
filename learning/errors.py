"""Errors of the learning layer that callers catch without loading torch."""


class CheckpointError(RuntimeError):
    """A checkpoint folder is missing, incomplete, or does not fit what loads it."""
