"""Training the world model on the store and measuring its fidelity: the app's side.

Episodes are split once by id: every ``HOLD_OUT_EVERY``-th episode with frames of the
world model's camera (the last one, in a store of fewer) is held out for the fidelity
report and never trained on.
Checkpoints live in the store's checkpoints folder: ``<name>/vae`` (cpu and tiny profiles
train their own) and ``<name>/model``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from app.policies import checkpoints_dir
from learning.trainer import TrainConfig, TrainProgress
from learning.world_model.config import WorldModelConfig
from learning.world_model.fidelity import FidelityReport, Replay, fidelity_report, strip
from learning.world_model.imagination import Imagination
from learning.world_model.training import load_world_model, train_vae, train_world_model
from storage import EpisodeFilter, TrajectoryStore

HOLD_OUT_EVERY = 10


def split_episodes(store: TrajectoryStore, camera: str, where: EpisodeFilter = EpisodeFilter()):
    """(training ids, held-out ids) among episodes that recorded ``camera``."""
    ids = [e.id for e in store.episodes(where) if camera in store.cameras(e.id)]
    held_out = ids[HOLD_OUT_EVERY - 1::HOLD_OUT_EVERY] or ids[1:][-1:]
    kept = set(held_out)
    return [i for i in ids if i not in kept], held_out


def world_model_dir(store: TrajectoryStore, name: str) -> Path:
    return checkpoints_dir(store) / "world-models" / name


def pretrain_world_model(store: TrajectoryStore, name: str, config: WorldModelConfig, vae_train: TrainConfig,
                         train: TrainConfig, *, batch_size: int = 8,
                         progress: Callable[[str, TrainProgress], None] | None = None) -> Path:
    """VAE (unless the profile loads one) then DiT on every stored episode but the held-out ones."""
    training_ids, _ = split_episodes(store, config.camera)
    if not training_ids:
        raise ValueError(f"no stored episodes with camera {config.camera!r}; record some first (wmpo-app demos)")
    where = EpisodeFilter(ids=tuple(training_ids))
    folder = world_model_dir(store, name)
    vae_folder = None
    if not config.vae.pretrained_path:
        vae_folder = folder / "vae"
        train_vae(store, config, vae_train, vae_folder, where=where,
                  progress=(lambda p: progress("vae", p)) if progress else None)
    train_world_model(store, config, train, folder / "model", where=where, vae_folder=vae_folder,
                      batch_size=batch_size, progress=(lambda p: progress("world model", p)) if progress else None)
    return folder / "model"


def measure_fidelity(store: TrajectoryStore, name: str, *, episodes: int = 8, horizon: int | None = None,
                     sampler: str | None = None, steps: int | None = None, strips_dir: Path | None = None,
                     iteration_id: int | None = None) -> FidelityReport:
    """Replay held-out episodes in the world model; store the report as a metric, write strips."""
    model = load_world_model(world_model_dir(store, name) / "model")
    camera = model.config.camera
    _, held_out = split_episodes(store, camera)
    if not held_out:
        raise ValueError(f"no held-out episodes (every {HOLD_OUT_EVERY}th with camera {camera!r}); record more")
    replays = []
    for episode_id in held_out[:episodes]:
        episode = store.episode(episode_id)
        replays.append(Replay(real=store.load_frames(episode_id, camera), actions=store.load_steps(episode_id).actions,
                              success=episode.success))
    report, imagined = fidelity_report(Imagination(model, sampler=sampler, steps=steps), replays, horizon)
    store.log_metric("world_model/psnr_db_last", report.psnr_db[-1], iteration_id=iteration_id,
                     payload={"name": name, "episode_ids": held_out[:episodes], **report.to_json()})
    if strips_dir is not None:
        Path(strips_dir).mkdir(parents=True, exist_ok=True)
        for episode_id, replay, frames in zip(held_out, replays, imagined):
            strip(replay.real, frames).save(Path(strips_dir) / f"fidelity-{name}-episode{episode_id}.png")
    return report
