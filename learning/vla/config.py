"""Policy configuration and the three profiles (tiny for tests, cpu, gpu)."""

from __future__ import annotations

from dataclasses import dataclass

from learning.configs import JsonConfig
from learning.profiles import CPU_CAMERA, pick_profile

BACKBONES = ("small", "pretrained")


@dataclass(frozen=True)
class PolicyConfig(JsonConfig):
    camera: str = "cam_high"  # WMPO's policy sees the top camera only, no measured joints
    image_size: tuple[int, int] = (96, 128)  # (height, width) the policy is fed
    chunk_size: int = 8  # K actions per forward pass
    action_dim: int = 14  # D
    n_bins: int = 256  # per action dimension
    backbone: str = "small"  # "small": trained from scratch; "pretrained": transformers, local path
    pretrained_path: str | None = None  # folder of a CLIP/SigLIP-style model (gpu profile)
    width: int = 32  # small backbone: channels of the first conv layer
    embed_dim: int = 256  # fused image + instruction features
    query_dim: int = 64  # one learned query per (k, d) action token
    head_hidden: int = 256
    vocab_buckets: int = 1024  # small backbone: hashed instruction words
    augment_shift: int = 4  # random image shift (pixels) while training
    # "absolute": joint targets as the robot takes them. "delta": targets relative to the
    # joints when the chunk starts (the runner adds the robot's present qpos). Absolute is
    # the default: it needs no proprioception, which imagination cannot supply (the world
    # model gives pixels only), and with the control step as input it learns as well.
    action_mode: str = "absolute"
    # The control step at which the chunk starts, as a fraction of ``horizon``, joins the
    # image features. Scripted and teleoperated demos pause (fingers closing, one arm
    # waiting for the other): the image alone cannot say whether the pause is over, and
    # the most common answer, "stay", freezes an image-only policy for good. The step is
    # known exactly on the robot and inside the world model alike.
    time_input: bool = True
    # The joint command in force when the chunk starts (the last action of the previous chunk;
    # at an episode's first chunk, the measured joints) joins the image features. A view of
    # the task region hides the arms' bases, and a handover needs to know where both arms
    # are. Measured joints cannot be imagined (the world model gives pixels only); the last
    # command is known exactly on the robot and inside the world model alike.
    command_input: bool = False
    # Imitation only: Gaussian noise of this std on the command as the policy reads it (in the
    # [-1, 1] units of the action bins' range). The last command predicts the next almost
    # exactly in smooth demos, so a policy can learn to copy it and stop looking (the "copycat"
    # of imitation with past actions as input); measured: with the command and no noise the
    # view policy fell from 21% to 9% greedy success while its training loss improved.
    command_noise: float = 0.0
    horizon: int = 400  # control steps of an episode (8 s at 50 Hz)

    def __post_init__(self):
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone {self.backbone!r}; expected one of {BACKBONES}")
        if self.backbone == "pretrained" and not self.pretrained_path:
            raise ValueError("backbone 'pretrained' needs pretrained_path: a local folder (no hub downloads)")
        if self.action_mode not in ("delta", "absolute"):
            raise ValueError(f"action_mode {self.action_mode!r}; expected 'delta' or 'absolute'")
        if self.command_noise < 0 or (self.command_noise and not self.command_input):
            raise ValueError(f"command_noise {self.command_noise}: expected >= 0, and only with command_input")
        if self.command_input and self.action_mode != "absolute":
            raise ValueError("command_input needs action_mode 'absolute': the command is scaled by the bins of "
                             "absolute joint targets")
        if self.horizon < 1:
            raise ValueError(f"horizon {self.horizon}; expected at least 1 control step")
        if self.width < 1 or any(n % min(8, n) for n in (self.width, 2 * self.width, 4 * self.width)):
            # the small backbone's layers have width, 2x and 4x channels in groups of 8 (or fewer)
            raise ValueError(f"width {self.width}; expected 1, 2, 4 or a multiple of 8")
        if min(self.image_size) < 16:
            raise ValueError(f"image_size {self.image_size}; expected at least 16x16")


PROFILES = {
    "tiny": PolicyConfig(image_size=(32, 48), width=8, embed_dim=32, query_dim=16, head_hidden=32,
                         vocab_buckets=64, augment_shift=2),
    "cpu": PolicyConfig(width=16, camera=CPU_CAMERA),  # ~85 ms per batch of 64 on 2 cores
    # Paper scale: 224 px input to a pretrained vision-language backbone (set pretrained_path).
    "gpu": PolicyConfig(image_size=(224, 224), backbone="pretrained", pretrained_path="models/siglip",
                        embed_dim=1024, query_dim=256, head_hidden=1024, augment_shift=8),
}


def profile(name: str, **overrides) -> PolicyConfig:
    return pick_profile(PROFILES, name, **overrides)
