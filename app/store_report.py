"""Plain-text views of the store for the headless CLI."""

from __future__ import annotations

from storage import STOCK_SCENE, EpisodeFilter, TrajectoryStore


def status_report(store: TrajectoryStore) -> str:
    summary = store.summary()
    lines = [
        f"store        {store.path.resolve()}",
        f"schema       v{store.schema_version()}",
        f"size         {summary['bytes'] / 2**20:.1f} MiB, {summary['frames']} frames",
        "episodes     " + (", ".join(f"{n} {src}" for src, n in sorted(summary["episodes"].items()))
                           or "none yet"),
        f"iterations   {summary['iterations']}",
        f"policies     {summary['policy_versions']} versions",
        f"jobs         {summary['unfinished_jobs']} unfinished",
    ]
    # per iteration: the stock scene only (a disruption's evaluations are listed per source)
    for by, where in (("source", None), ("iteration", EpisodeFilter(scene=STOCK_SCENE))):
        rates = store.success_rates(by, where)
        if rates:
            lines.append(f"success per {by} (95% Wilson interval):")
            for rate in rates:
                name = rate.group
                if by == "iteration":
                    name = "outside iterations" if rate.group is None else f"iteration {rate.group}"
                lines.append(f"  {name}: {rate.summary()}")
    return "\n".join(lines)


def episode_table(store: TrajectoryStore, where: EpisodeFilter, limit: int) -> str:
    episodes = store.episodes(where, limit=limit, newest_first=True)
    if not episodes:
        return "no episodes match"
    header = (f"{'id':>6} {'task':<16} {'source':<8} {'robot':<5} {'len':>5} {'success':<8} {'by':<12} {'loop Hz':>8} "
              f"{'safety':>6} scene")
    rows = [header]
    for e in episodes:
        label = "-" if e.success is None else ("yes" if e.success else "no")
        hz = f"{e.loop_hz_mean:.1f}" if e.loop_hz_mean else "-"
        rows.append(f"{e.id:>6} {e.task[:16]:<16} {e.source:<8} {e.robot_kind:<5} {e.length:>5} "
                    f"{label:<8} {e.label_source or '-':<12} {hz:>8} {e.safety_interventions:>6} {e.scene}")
    return "\n".join(rows)
