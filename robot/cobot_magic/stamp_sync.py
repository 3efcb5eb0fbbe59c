"""AgileX's rule for pairing cameras and arms by their drivers' timestamps.

Their recorder (aloha-agilex ``collect_data.py`` / inference ``get_frame``) keeps a deque of recent
messages per source. The sync time is the oldest of the cameras' newest stamps -- the latest
moment every camera has reached. Until every source (cameras and arms) has a message at or after
that time, there is no frame yet. Then each source gives its first message not older than the sync
time; older ones are dropped. (So a message a little *before* the sync time is never chosen, even
when it is nearer than the one after it: the rule prefers "not stale" to "nearest".)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence


@dataclass(frozen=True)
class SyncedSet:
    time_s: float  # the sync time (driver clock, s)
    picked: dict[str, tuple[float, Any]]  # source -> (its stamp, its message)


def synchronise(histories: dict[str, Sequence[tuple[float, Any]]], leading: Iterable[str]) -> SyncedSet | None:
    """Pick one message per source by AgileX's rule, or None while some source lags the sync time.

    ``histories``: per source, (stamp s, message) pairs in arrival order (oldest first).
    ``leading``: the sources whose newest stamps set the sync time (the cameras); every source if
    none of them is there (a site without cameras syncs the arms with each other)."""
    if not histories or any(len(history) == 0 for history in histories.values()):
        return None
    newest = {source: max(stamp for stamp, _ in history) for source, history in histories.items()}
    leaders = [source for source in leading if source in histories] or list(histories)
    time_s = min(newest[source] for source in leaders)
    if any(stamp < time_s for stamp in newest.values()):
        return None
    picked = {source: next((stamp, message) for stamp, message in history if stamp >= time_s)
              for source, history in histories.items()}
    return SyncedSet(time_s, picked)
