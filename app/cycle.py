"""The lifelong cycle: collect P -> align the world model -> train the reward model ->
fidelity report -> GRPO in imagination -> evaluate -> redeploy gate, again and again.

Each iteration is a job in the store whose steps are the stages above. A step's result
(a small JSON, typed in ``app/stage_results.py``) is committed when it finishes; killed at any
moment and started again with ``resume``, the cycle claims the job and continues at the first
unfinished step. Within a step, everything committed stays: collected and evaluated episodes
are counted, not re-run, and every trainer resumes from its last checkpoint.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from app.arm_kinematics import with_kinematics
from app.cycle_config import JOB_KIND, STAGES, CycleConfig, learner_configs
from app.imagined_commands import safety_command_filter
from app.policies import collect_rollouts, evaluate_policy
from app.stage_results import (
    AlignResult,
    CollectResult,
    DeployResult,
    EvaluateResult,
    FidelityResult,
    GrpoResult,
    RewardResult,
    StageResult,
    stage_result,
)
from learning.artifacts import reward_model_dir, world_model_dir
from learning.checkpoints import existing_checkpoint
from learning.policy_optimization.grpo import NoLearningSignalError
from learning.provenance import provenance
from learning.reward_model.on_store import train_success_model
from learning.reward_model.training import load_reward_model
from learning.splits import NoHeldOutEpisodesError
from learning.trainer import TrainConfig
from learning.wmpo import improve_in_imagination
from learning.world_model.config import ALIGN_LR, PRETRAIN_LR
from learning.world_model.on_store import align_world_model, measure_fidelity, pretrain_world_model
from robot.factory import Operator, RobotChoice
from storage import STOCK_SCENE, EpisodeFilter, StoreError, TrajectoryStore


Report = Callable[[str], None]


@dataclass
class IterationContext:
    store: TrajectoryStore
    config: CycleConfig
    iteration_id: int
    number: int
    results: dict  # stage -> result (as stored, JSON) of the finished stages of this iteration
    report: Report
    step_id: int | None = None  # the running job step, whose progress the store shows
    stage: str | None = None  # its name
    last_loss: float | None = None  # the running step's latest training loss
    operator: Operator = Operator()  # who resets scenes and judges episodes on a real robot
    _progress_written: float = 0.0

    def progress(self, done: float, total: float, detail: str, loss: float | None = None) -> None:
        """Report a line and, at most once a second, how far the running step is."""
        self.report(detail)
        if loss is not None:  # every logged window: the stage's training curve, in the store
            self.last_loss = loss
            self.store.log_metric(f"{self.stage}/loss", loss, step=int(done), iteration_id=self.iteration_id,
                                  job_step_id=self.step_id)
        now = time.monotonic()
        if self.step_id is not None and (done >= total or now - self._progress_written >= 1.0):
            self.store.jobs.report_progress(self.step_id, min(1.0, max(0.0, done / total)), detail)
            self._progress_written = now

    def result(self, stage: str) -> StageResult:
        """A finished stage's result as its class."""
        return stage_result(stage, self.results[stage])

    @property
    def task(self) -> str:
        return self.config.task

    @property
    def robot(self) -> RobotChoice:
        return RobotChoice(self.config.site, self.operator)

    def metric_names(self) -> dict:
        n = self.number
        return {"world_model": f"wm-{self.task}-{n}", "reward": f"reward-{self.task}-{n}",
                "policy": f"{self.task}-wmpo-{n}"}


# Learning rates of the cycle's trainers (the CLI's commands use the same).
REWARD_LR = 3e-4


def deployed_version(store: TrajectoryStore, task: str) -> int:
    deployment = store.deployed(task)
    if deployment is None:
        raise StoreError(f"no policy is deployed for {task}; start with one: wmpo-app cycle --policy NAME "
                         f"(or wmpo-app deploy --policy NAME --task {task})")
    return deployment.policy_version_id


def previous_world_model(store: TrajectoryStore, config: CycleConfig) -> str:
    """The last finished iteration's aligned world model, else the pretrained one."""
    for job in reversed(store.jobs.finished(JOB_KIND)):
        align = next((s for s in job.steps if s.name == "align"), None)
        if job.config.get("cycle", {}).get("task") == config.task and align and align.result:
            return AlignResult.from_json(align.result).world_model
    return config.world_model


def collect(ctx: IterationContext) -> dict:
    version = deployed_version(ctx.store, ctx.task)
    summary = collect_rollouts(ctx.store, version, ctx.task, ctx.config.budget,
                               temperature=ctx.config.collect_temperature, iteration_id=ctx.iteration_id,
                               robot=ctx.robot, horizon=ctx.config.max_steps,
                               progress=lambda done, total, ok: ctx.progress(done, total, f"collect {done}/{total}"))
    return CollectResult(version, summary.episodes, summary.successes).to_json()


def align(ctx: IterationContext) -> dict:
    store, config = ctx.store, ctx.config
    base = previous_world_model(store, config)
    if existing_checkpoint(world_model_dir(store, base) / "model") is None:
        ctx.report(f"align: no world model {base!r} yet; pretraining it on every stored {ctx.task} episode")
        pretrain_world_model(store, base, with_kinematics(learner_configs(config)["world_model"]),
                             TrainConfig.scheduled(config.world_model_steps, PRETRAIN_LR, False), task=ctx.task,
                             batch_size=config.world_model_batch,
                             progress=lambda stage, p: ctx.report(f"pretrain {stage} {p.step}/{p.steps} "
                                                                  f"loss {p.loss:.4f}"))
    name = ctx.metric_names()["world_model"]
    where = EpisodeFilter(task=ctx.task, source="policy", iteration_id=ctx.iteration_id)
    align_world_model(store, name, base, where, TrainConfig.scheduled(config.align_steps, ALIGN_LR),
                      batch_size=config.world_model_batch, demo_share=config.align_demo_share,
                      progress=lambda stage, p: ctx.progress(p.step, p.steps, f"align {p.step}/{p.steps} "
                                                                                f"loss {p.loss:.4f}", p.loss))
    return AlignResult(name, base).to_json()


def reward(ctx: IterationContext) -> dict:
    name = ctx.metric_names()["reward"]
    result = train_success_model(ctx.store, name, ctx.task, learner_configs(ctx.config)["reward_model"],
                                 TrainConfig.scheduled(ctx.config.reward_steps, REWARD_LR), batch_size=ctx.config.reward_batch,
                                 iteration_id=ctx.iteration_id,
                                 progress=lambda p: ctx.progress(p.step, p.steps, f"reward {p.step}/{p.steps} "
                                                                                  f"loss {p.loss:.4f}", p.loss))
    scores = [getattr(result, split).to_json() if getattr(result, split) else None
              for split in ("validation", "held_out", "evaluation")]
    return RewardResult(name, *scores).to_json()


def fidelity(ctx: IterationContext) -> dict:
    store = ctx.store
    judge = load_reward_model(reward_model_dir(store, ctx.result("reward").reward_model))
    try:
        report = measure_fidelity(store, ctx.result("align").world_model, episodes=ctx.config.fidelity_episodes,
                                  where=EpisodeFilter(task=ctx.task, source="policy"), reward_model=judge,
                                  iteration_id=ctx.iteration_id)
    except NoHeldOutEpisodesError as exc:  # a small budget: the diagnosis is missing, the iteration goes on
        ctx.report(f"fidelity: skipped -- {exc}")
        return FidelityResult(skipped=str(exc)).to_json()
    return FidelityResult(report.psnr_db[-1], report.ssim[-1], report.outcome_agreement, report.episodes,
                          report.successes_replayed, report.successes_recognised).to_json()


def grpo(ctx: IterationContext) -> dict:
    config = learner_configs(ctx.config)["grpo"]
    names = ctx.metric_names()
    try:
        result = improve_in_imagination(
            ctx.store, ctx.result("collect").policy_version_id, ctx.result("align").world_model,
            ctx.result("reward").reward_model, ctx.task, config, names["policy"], iteration_id=ctx.iteration_id,
            seed=ctx.number, command_filter=safety_command_filter(),
            progress=lambda s: ctx.progress(s.updates, config.updates,
                                            f"grpo update {s.updates}/{config.updates}: kept {s.groups_kept}/"
                                            f"{s.groups_sampled} groups, imagined success {100 * s.success_rate:.0f}%"))
    except NoLearningSignalError as exc:  # the iteration still counts: its data and models are kept
        ctx.report(f"grpo: no update -- {exc}")
        return GrpoResult(False, reason=str(exc),
                          stats={k: v for k, v in exc.stats.to_json().items() if k != "history"}).to_json()
    return GrpoResult(True, result.version_id, stats=result.stats.to_json()).to_json()


def evaluate(ctx: IterationContext) -> dict:
    if not ctx.result("grpo").updated:
        return EvaluateResult(skipped="no new policy").to_json()
    rates = {}
    for half, (role, version) in enumerate((("deployed", ctx.result("collect").policy_version_id),
                                            ("candidate", ctx.result("grpo").policy_version_id))):
        summary = evaluate_policy(
            ctx.store, version, ctx.task, ctx.config.eval_episodes, iteration_id=ctx.iteration_id, reuse_finished=True,
            robot=ctx.robot, horizon=ctx.config.max_steps,
            progress=lambda done, total, ok: ctx.progress(half * total + done, 2 * total,
                                                          f"evaluate {role} {done}/{total}"))
        rates[role] = summary.to_json() | {"policy_version_id": version}
    return EvaluateResult(**rates).to_json()


def deploy(ctx: IterationContext) -> dict:
    evaluation = ctx.result("evaluate")
    if evaluation.skipped is not None:
        return DeployResult(False, reason=evaluation.skipped).to_json()
    unlabelled = ctx.store.count_episodes(EpisodeFilter(task=ctx.task, source="eval", scene=STOCK_SCENE,
                                                        iteration_id=ctx.iteration_id, labelled=False))
    if unlabelled:  # a real robot cannot tell success: rates of unlabelled episodes say nothing
        return DeployResult(False, reason=f"{unlabelled} evaluation episodes have no success label; label them "
                                          f"(wmpo-app relabel ID success|failure), then deploy by hand").to_json()
    new, old = evaluation.candidate["rate"], evaluation.deployed["rate"]
    if new >= old - ctx.config.deploy_margin:
        note = f"evaluation {100 * new:.1f}% vs deployed {100 * old:.1f}% (margin {100 * ctx.config.deploy_margin:.1f})"
        ctx.store.deploy(ctx.task, evaluation.candidate["policy_version_id"], "gate",
                         iteration_id=ctx.iteration_id, note=note)
        return DeployResult(True, note=note).to_json()
    return DeployResult(False, reason=f"evaluation {100 * new:.1f}% is below the deployed {100 * old:.1f}%").to_json()


STAGE_FUNCTIONS = {"collect": collect, "align": align, "reward": reward, "fidelity": fidelity, "grpo": grpo,
                   "evaluate": evaluate, "deploy": deploy}


def start_iteration(store: TrajectoryStore, config: CycleConfig, remaining: int):
    iteration = store.start_iteration(config.task, config.budget, {**config.to_json(), "provenance": provenance()})
    return store.jobs.create(JOB_KIND, list(STAGES), {"cycle": config.to_json(), "remaining": remaining},
                             iteration_id=iteration.id)


def run_iteration(store: TrajectoryStore, job_id: int, report: Report, operator: Operator = Operator()) -> dict:
    job = store.jobs.claim(job_id)
    config = CycleConfig.from_json(job.config["cycle"])
    number = next(i.number for i in store.iterations() if i.id == job.iteration_id)
    ctx = IterationContext(store, config, job.iteration_id, number,
                           {s.name: s.result for s in job.steps if s.status == "done"}, report,
                           operator=operator)
    while (step := store.jobs.get(job_id).next_step()) is not None:
        report(f"iteration {number}: {step.name}" + (f" (attempt {step.attempts + 1})" if step.attempts else ""))
        store.jobs.start_step(step.id)
        ctx.step_id, ctx.stage, ctx.last_loss = step.id, step.name, None
        try:
            result = STAGE_FUNCTIONS[step.name](ctx)
        except Exception as exc:
            store.jobs.fail_step(step.id, f"{type(exc).__name__}: {exc}")
            store.finish_iteration(job.iteration_id, "failed")
            raise
        if ctx.last_loss is not None:  # the trainer's final loss: what the Cycle screen shows per stage
            result = {**result, "final_loss": ctx.last_loss}
            store.log_metric(f"{step.name}/final_loss", ctx.last_loss, iteration_id=job.iteration_id)
        store.jobs.finish_step(step.id, result)
        ctx.results[step.name] = result
    store.jobs.finish(job_id)
    store.finish_iteration(job.iteration_id)
    return ctx.results


def cancel_cycle(store: TrajectoryStore) -> str:
    """Give up the unfinished iteration: its job and iteration are marked cancelled, and
    everything it committed (rollouts, models, metrics) stays in the store. Says what it did."""
    unfinished = store.jobs.unfinished(JOB_KIND)
    if not unfinished:
        return "nothing to cancel: no unfinished cycle iteration"
    job = store.jobs.claim(unfinished[-1].id)  # refuses while a live process runs it
    step = job.next_step()
    store.jobs.finish(job.id, "cancelled")
    store.finish_iteration(job.iteration_id, "cancelled")
    done = [s.name for s in job.steps if s.status == "done"]
    return (f"cancelled iteration job {job.id} at its {step.name if step else 'last'} step; "
            f"kept what it finished ({', '.join(done) or 'nothing'}) and every episode it recorded")


def run_cycle(store: TrajectoryStore, config: CycleConfig | None, iterations: int, *, resume: bool = False,
              report: Report = print, operator: Operator = Operator()) -> list[dict]:
    """Run ``iterations`` new iterations of ``config``. With ``resume``: finish the unfinished
    iteration, then the iterations that run had still planned (``config`` and ``iterations``
    are then taken from the store, the robot's site among them). ``operator``: who resets the
    scene and labels episodes when the site is a real robot."""
    unfinished = store.jobs.unfinished(JOB_KIND)
    results = []
    if resume:
        if not unfinished:
            report("nothing to resume: no unfinished cycle iteration")
            return results
        job = unfinished[-1]
        report(f"resuming iteration job {job.id} at its {job.next_step().name} step")
        results.append(run_iteration(store, job.id, report, operator))
        config, iterations = CycleConfig.from_json(job.config["cycle"]), job.config.get("remaining", 0)
    elif unfinished:
        raise StoreError(f"cycle iteration job {unfinished[-1].id} is unfinished; resume it (wmpo-app cycle --resume) "
                         f"or cancel it (wmpo-app cycle --cancel)")
    for k in range(iterations):
        job = start_iteration(store, config, remaining=iterations - k - 1)
        results.append(run_iteration(store, job.id, report, operator))
    return results
