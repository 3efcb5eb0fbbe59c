"""Reward-model configuration and the three profiles (tiny for tests, cpu, gpu)."""

from __future__ import annotations

from dataclasses import dataclass

from learning.configs import JsonConfig
from learning.profiles import CPU_CAMERA, pick_profile


@dataclass(frozen=True)
class RewardModelConfig(JsonConfig):
    camera: str = "cam_high"  # it judges what the world model imagines: the policy's camera
    image_size: tuple[int, int] = (96, 128)  # (height, width) the encoder sees; frames are resized to it
    clip_len: int = 8  # L
    # Control steps between a clip's frames: the world model's frame_stride. Recorded episodes
    # are judged at this stride too (``clips.at_stride``).
    frame_stride: int = 1
    stride: int = 1  # sliding-window stride at inference, in frames of the sequence judged (the paper: 1)
    # Positive clips per successful recorded episode: those ending at its last terminal_clips
    # frames. 1 is the paper's terminal clip. Imagination has a frame every frame_stride steps
    # from the start, so its last frame before the success lies anywhere in the last stride:
    # frame_stride positives match every alignment (the cpu and gpu profiles).
    terminal_clips: int = 1
    # A success's negatives end at least this many steps before its last frame; None: a clip's
    # span (the paper's: no negative overlaps the terminal clip). With the span, the clips of the
    # last ~2 chunks before a success are never shown, neither as success nor as not yet: the
    # model then calls the handover half done a success (README, groups from mid-episode states).
    success_margin: int | None = None
    # A transformers VideoMAE encoder: loaded from a local folder (gpu), or built from these numbers.
    pretrained_path: str | None = None
    patch_size: int = 16
    tubelet_size: int = 2
    hidden_size: int = 128
    layers: int = 4
    heads: int = 4
    intermediate_size: int = 256
    # Chosen on the validation split (maximum F1) after training and saved with the checkpoint.
    threshold: float = 0.5

    @property
    def span(self) -> int:
        """Control steps one clip covers."""
        return (self.clip_len - 1) * self.frame_stride + 1

    def __post_init__(self):
        if self.clip_len < 1 or self.stride < 1 or self.frame_stride < 1:
            raise ValueError(f"clip_len {self.clip_len}, stride {self.stride} and frame_stride {self.frame_stride}: "
                             f"expected >= 1")
        if not 1 <= self.terminal_clips <= self.span:
            raise ValueError(f"terminal_clips {self.terminal_clips}: expected 1 to the clip's span, {self.span} steps")
        if self.success_margin is not None and not self.terminal_clips <= self.success_margin <= self.span:
            raise ValueError(f"success_margin {self.success_margin}: expected from terminal_clips "
                             f"({self.terminal_clips}: a negative must not be a positive) to the clip's span, "
                             f"{self.span} steps")
        if self.clip_len % self.tubelet_size:
            raise ValueError(f"clip_len {self.clip_len} is not divisible by tubelet_size {self.tubelet_size}")
        if self.pretrained_path is None and any(s % self.patch_size for s in self.image_size):
            raise ValueError(f"image_size {self.image_size} is not divisible by patch_size {self.patch_size}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold {self.threshold}: expected a probability in [0, 1]")


PROFILES = {
    # frame_stride: each profile's world model's (learning/world_model/config.py)
    "tiny": RewardModelConfig(image_size=(32, 48), patch_size=8, hidden_size=32, layers=1, heads=2,
                              intermediate_size=64, frame_stride=4),
    # 2 cores: tubelets of 4 frames and 3 layers -- 96 tokens per clip; 0.12 s per training step
    # at batch 32, 1.6 ms per judged clip (measured; tubelets of 2 and 4 layers: 0.40 s, 10 ms).
    # terminal_clips = frame_stride: measured on store 2, the 128 evaluation episodes' F1 0.76 -> 0.93
    # (recall 0.61 -> 0.94), and on imagination's grid balanced accuracy 0.66 -> 0.88 (README).
    "cpu": RewardModelConfig(tubelet_size=4, layers=3, frame_stride=8, terminal_clips=8, camera=CPU_CAMERA),
    # Paper scale: a pretrained VideoMAE (e.g. videomae-base, 224x224, 16 frames -> L=8 here)
    # from a local folder; the policy's frames are resized to its input size.
    "gpu": RewardModelConfig(image_size=(224, 224), pretrained_path="models/videomae-base", frame_stride=4,
                             terminal_clips=4),
}


def profile(name: str, **overrides) -> RewardModelConfig:
    return pick_profile(PROFILES, name, **overrides)
