"""What the cycle has done, read back from the store: a row per iteration, and the running
iteration's stages with an ETA. The UI's Dashboard / Cycle / Iterations screens and the
benchmarks' reports show these; nothing here writes."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime

from app.cycle_config import JOB_KIND, STAGES
from app.stage_results import stage_result
from storage import TrajectoryStore
from storage.jobs import JobState
from storage.schema import utcnow


@dataclass(frozen=True)
class IterationRow:
    id: int
    number: int
    task: str
    budget: int | None
    status: str
    collect_success: float | None  # sampled rollouts in the sim (the real budget P)
    eval_success: float | None  # the candidate's greedy evaluation
    eval_interval: tuple[float, float] | None
    deployed_eval: float | None  # the deployed policy's evaluation in the same iteration
    imagined_success: float | None  # judged successes among GRPO's imagined trajectories
    kept_fraction: float | None  # groups kept by dynamic sampling
    outcome_agreement: float | None  # world model vs reality, judged by the reward model
    successes_recognised: str | None  # "k/n": real successes judged successful when replayed in imagination
    psnr_db_last: float | None
    reward_f1: float | None  # held-out episodes (validation if none)
    deployed: bool
    policy: str | None  # the candidate's name
    note: str  # why not deployed, or GRPO's reason for no update


def iteration_rows(store: TrajectoryStore) -> list[IterationRow]:
    jobs = {job.iteration_id: job for job in store.jobs.finished(JOB_KIND) + store.jobs.unfinished(JOB_KIND)}
    versions = {v.id: v.name for v in store.policy_versions()}
    rows = []
    for iteration in store.iterations():
        stored = {s.name: s.result for s in jobs[iteration.id].steps} if iteration.id in jobs else {}
        collect, grpo, evaluation, deploy, reward, fidelity = (
            stage_result(name, stored.get(name)) for name in ("collect", "grpo", "evaluate", "deploy", "reward",
                                                              "fidelity"))
        candidate, deployed = evaluation.candidate, evaluation.deployed
        f1_split = reward.held_out or reward.validation
        rows.append(IterationRow(
            id=iteration.id, number=iteration.number, task=iteration.task, budget=iteration.budget,
            status=iteration.status,
            collect_success=collect.successes / collect.episodes if collect.episodes else None,
            eval_success=candidate["rate"] if candidate else None,
            eval_interval=tuple(candidate["interval95"]) if candidate else None,
            deployed_eval=deployed["rate"] if deployed else None,
            imagined_success=grpo.success_rate, kept_fraction=grpo.kept_fraction,
            outcome_agreement=fidelity.outcome_agreement, successes_recognised=fidelity.recognised(),
            psnr_db_last=fidelity.psnr_db_last,
            reward_f1=f1_split["f1"] if f1_split else None,
            deployed=deploy.deployed,
            policy=versions.get(grpo.policy_version_id),
            note=deploy.note or deploy.reason or grpo.reason or ""))
    return rows


@dataclass(frozen=True)
class StageProgress:
    name: str
    status: str  # pending / running / done / failed
    fraction: float  # 0..1
    detail: str
    seconds: float | None  # spent so far (running) or in total (done)


@dataclass(frozen=True)
class RunningIteration:
    job_id: int
    iteration_number: int | None
    task: str
    owner_alive: bool  # False: interrupted; `cycle --resume` continues it
    stages: tuple[StageProgress, ...]
    eta_s: float  # seconds left, of what can be estimated
    eta_complete: bool  # False before a finished iteration gives typical stage durations


def typical_stage_seconds(store: TrajectoryStore) -> dict[str, float]:
    """Median wall time of each stage over finished iterations. A step that ran more than once
    is left out: its stored span covers only the last attempt (a resumed step restarts its clock)."""
    spans: dict[str, list[float]] = {}
    for job in store.jobs.finished(JOB_KIND):
        for step in job.steps:
            if step.started_at and step.finished_at and step.attempts == 1:
                spans.setdefault(step.name, []).append((step.finished_at - step.started_at).total_seconds())
    return {name: statistics.median(values) for name, values in spans.items()}


def running_iteration(store: TrajectoryStore, now: datetime | None = None) -> RunningIteration | None:
    unfinished = store.jobs.unfinished(JOB_KIND)
    if not unfinished:
        return None
    job: JobState = unfinished[-1]
    now = now or utcnow()
    numbers = {i.id: i.number for i in store.iterations()}
    stages = []
    for step in job.steps:
        fraction = 1.0 if step.status == "done" else (step.progress or 0.0) if step.status == "running" else 0.0
        end = step.finished_at or (now if step.status == "running" else None)
        seconds = (end - step.started_at).total_seconds() if step.started_at and end else None
        stages.append(StageProgress(step.name, step.status, fraction, step.detail or step.error or "", seconds))
    return RunningIteration(job.id, numbers.get(job.iteration_id), job.config.get("cycle", {}).get("task", "?"),
                            job.owner_alive(), tuple(stages), *estimate_eta(stages, typical_stage_seconds(store)))


def estimate_eta(stages: list[StageProgress], typical: dict[str, float]) -> tuple[float, bool]:
    """Remaining seconds, and whether every remaining stage could be estimated: the running
    stage is extrapolated from its own pace (or its typical duration), each stage not started
    takes its median over finished iterations (unknown before the first one finishes)."""
    remaining, complete = 0.0, True
    for stage in stages:
        if stage.status == "done":
            continue
        if stage.status == "running" and stage.seconds and stage.fraction > 0.05:
            remaining += stage.seconds * (1 - stage.fraction) / stage.fraction
        elif stage.name in typical:
            remaining += typical[stage.name] * (1 - stage.fraction)
        else:
            complete = False
    return remaining, complete
