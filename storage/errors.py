"""Errors the store raises. Each message says what was wrong and what was expected."""


class StoreError(Exception):
    """Base class for every error raised by the trajectory store."""


class StoreFileError(StoreError):
    """The file at the store path is not a usable wmpo store; nothing was modified."""


class StoreReadOnlyError(StoreFileError):
    """The store can be read but not written (file mode, an immutable flag, a read-only mount)."""


class SchemaVersionError(StoreFileError):
    """The store was written by a newer wmpo, or needs a migration a read-only open cannot do."""


class StepValidationError(StoreError, ValueError):
    """A step handed to an episode writer has a wrong shape, dtype or a non-finite value."""


class StoreFullError(StoreError):
    """The disk (or the configured size cap) is full; the staged episode was discarded."""


class SeedTakenError(StoreError):
    """Another committed episode, or one being recorded, has this task, source and seed."""


class EpisodeNotFoundError(StoreError, KeyError):
    """No committed episode with that id."""

    def __str__(self) -> str:  # the message, not KeyError's quoted repr of it
        return str(self.args[0]) if self.args else ""


class ImportFormatError(StoreError, ValueError):
    """A file offered for import is malformed; nothing of it was imported."""
