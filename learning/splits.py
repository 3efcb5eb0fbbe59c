"""Which stored episodes a learner may train on, and which are held out for reports.

Episodes are split once by id: every ``HOLD_OUT_EVERY``-th of all episodes with frames of
a camera (the last one, in a store of fewer), and every evaluation episode, is held out
for the fidelity and reward reports and never trained on. New episodes only append to that
list, so an episode once held out stays held out. Episodes of a disruption scene (the sim's
generalisation tests, ``robot/sim/disruptions.py``) are on neither side: never trained on, and
never in a report on the stock scene.
"""

from __future__ import annotations

from storage import STOCK_SCENE, EpisodeFilter, TrajectoryStore

HOLD_OUT_EVERY = 10


class NoHeldOutEpisodesError(ValueError):
    """Too few matching episodes for any to be held out from training."""


def split_episodes(store: TrajectoryStore, camera: str, where: EpisodeFilter = EpisodeFilter()):
    """(training ids, held-out ids) among episodes that recorded ``camera`` and match ``where``.

    The split is made over all such episodes first and ``where`` picks from both parts, so a
    filtered view never moves an episode from one side to the other. Evaluation episodes
    (recorded with ``eval --record-frames``) are always held out: no learner may see the
    fixed evaluation set."""
    episodes = [e for e in store.episodes(EpisodeFilter(scene=STOCK_SCENE)) if camera in store.cameras(e.id)]
    ids = [e.id for e in episodes]
    held_out = set(ids[HOLD_OUT_EVERY - 1::HOLD_OUT_EVERY] or ids[1:][-1:])
    held_out |= {e.id for e in episodes if e.source == "eval"}
    matching = {e.id for e in store.episodes(where)}
    return ([i for i in ids if i in matching and i not in held_out],
            [i for i in ids if i in matching and i in held_out])


def balanced(store: TrajectoryStore, episode_ids: list[int], n: int) -> list[int]:
    """Up to ``n`` episodes, successes up to half of them (in stored order), then the rest. A
    policy that succeeds 1 time in 10 would otherwise give replays of failures alone, whose
    agreement says nothing about whether imagination can show a success."""
    successes = [i for i in episode_ids if store.episode(i).success][:n // 2]
    others = [i for i in episode_ids if i not in successes][:n - len(successes)]
    return sorted(successes + others)
