"""World-model configuration and the three profiles (tiny for tests, cpu, gpu).

What the numbers mean, and why the cpu defaults are what they are, is measured in
``benchmarks/imagination_ladder.py`` (results table in the README).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from learning.configs import JsonConfig
from learning.profiles import CPU_CAMERA, pick_profile
from learning.world_model.kinematics import ArmKinematics

SAMPLERS = ("euler", "dpmsolver")  # diffusers' EDM schedulers (learning/world_model/edm.py)
TARGETS = ("frame", "change")  # what is diffused: the next frame, or the next frame minus the last one
ACTION_INPUTS = ("absolute", "motion")  # how the network reads the actions


@dataclass(frozen=True)
class DenoiserConfig(JsonConfig):
    """The pixel U-Net (``unet.py``)."""

    channels: tuple[int, ...] = (32, 64, 128)  # width per resolution level
    depth: int = 1  # residual blocks per level, on the way down and again on the way up
    cond_dim: int = 256  # noise levels + actions -> one vector that modulates every block
    groups: int = 8
    attention: bool = True  # at the coarsest level
    space_to_depth: int = 2  # pixel blocks stacked into channels before the first convolution
    # Recompute each residual block's activations in backward instead of keeping them: about a
    # third more compute for a fraction of the memory (the gpu profile at 224x224 and batch 32).
    checkpoint_activations: bool = False

    def __post_init__(self):
        if not self.channels or any(c % self.groups for c in self.channels):
            raise ValueError(f"channels {self.channels} must be non-empty multiples of groups {self.groups}")


@dataclass(frozen=True)
class DiffusionConfig(JsonConfig):
    """EDM (Karras et al. 2022) as DIAMOND uses it for world models: the network is
    preconditioned so that at low noise it returns its input and at high noise predicts the
    clean frame; a few Euler steps from sigma_max to sigma_min end near zero noise.
    Pixels are in [-1, 1]."""

    sigma_data: float = 0.5
    train_log_sigma_mean: float = -0.4  # training noise levels: log-normal
    train_log_sigma_std: float = 1.2
    sigma_min: float = 2e-3
    sigma_max: float = 5.0
    rho: float = 7.0
    sampler: str = "euler"  # diffusers' EDMEulerScheduler, or "dpmsolver"; chosen again at sampling time
    sampling_steps: int = 3
    # Noise augmentation of the context (GameNGen: "critical"): while training, each sample's
    # context frames get Gaussian noise of a level drawn from U(0, context_noise_max), and the
    # network is told the level; imagination gives its own frames ``sampling_context_noise``.
    # A model that has only ever seen clean contexts compounds its own small errors.
    context_noise_max: float = 0.3
    sampling_context_noise: float = 0.0
    # Loss weight of pixels unlike the rest of the batch (0: plain EDM loss). The task's object is
    # ~11 of 12288 pixels: unweighted, getting it wrong costs almost nothing.
    salience_weight: float = 0.0
    # Loss weight of the pixels that move in a stride (0: plain EDM loss): 1 + motion_weight where
    # the real next frame differs from the last context frame by more than MOTION_THRESHOLD (or
    # next to such a pixel), the mean weight kept at 1. The arms and the cube are ~3% of a frame and
    # carry nearly all of what a stride changes; a small network that gets the still 97% right
    # first learns a blurred arm (the imagination ladder's strips).
    motion_weight: float = 0.0

    def __post_init__(self):
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler {self.sampler!r}; expected one of {SAMPLERS}")
        if self.sampling_steps < 1:
            raise ValueError(f"sampling_steps {self.sampling_steps}; expected >= 1")
        if not 0 < self.sigma_min < self.sigma_max:
            raise ValueError(f"sigma_min {self.sigma_min}, sigma_max {self.sigma_max}: expected 0 < min < max")
        if self.context_noise_max < 0 or self.sampling_context_noise < 0:
            raise ValueError("context noise levels must be >= 0")
        if self.motion_weight < 0 or self.salience_weight < 0:
            raise ValueError(f"loss weights {self.motion_weight}, {self.salience_weight}: expected >= 0")


@dataclass(frozen=True)
class WorldModelConfig(JsonConfig):
    camera: str = "cam_high"  # the policy's camera: imagined frames feed the policy directly
    image_size: tuple[int, int] = (96, 128)  # (height, width)
    action_dim: int = 14
    chunk_size: int = 8  # K: actions per policy chunk; imagination steps one chunk at a time
    # Frames are imagined every ``frame_stride`` control steps: the policy reads only the frame
    # at a chunk's start, and each imagined frame costs a few network evaluations.
    frame_stride: int = 8
    context_frames: int = 4  # c: the frames at t, t - stride, ..., conditioning the frame at t + stride
    anchor_first_frame: bool = True  # the episode's real first frame is always in the context too
    # "change": diffuse the next frame minus the last context frame, whose noise levels are scaled
    # to the change (diffusion.sigma_data ~ its std). Most pixels do not move in a stride, so an
    # untrained or unsure network copies the last frame -- the object stays where it was -- and all
    # its capacity goes to what moves. "frame": diffuse the next frame itself.
    target: str = "frame"
    # "motion": the network reads the last command before the context's last frame (where the arms
    # are) and each action of the window relative to it, scaled by the spread of a stride's motion
    # -- how far the arms move, which is what the next frame shows. "absolute": the actions
    # standardised over the dataset, where one stride's motion is a small fraction of a unit.
    action_input: str = "absolute"
    # The commanded arm poses (the last before the context's last frame, and the last of the
    # window) drawn where they project into the camera, as extra input channels
    # (``arm_pose.py``). ``kinematics`` is the robot's, filled in by the app when training starts.
    pose_maps: bool = False
    kinematics: ArmKinematics | None = None
    denoiser: DenoiserConfig = field(default_factory=DenoiserConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    ema_decay: float = 0.999

    def __post_init__(self):
        if self.target not in TARGETS:
            raise ValueError(f"target {self.target!r}; expected one of {TARGETS}")
        if self.action_input not in ACTION_INPUTS:
            raise ValueError(f"action_input {self.action_input!r}; expected one of {ACTION_INPUTS}")
        if self.context_frames < 1 or self.chunk_size < 1 or self.frame_stride < 1:
            raise ValueError(f"context_frames {self.context_frames}, chunk_size {self.chunk_size} and frame_stride "
                             f"{self.frame_stride}: expected >= 1")
        if self.chunk_size % self.frame_stride:
            raise ValueError(f"chunk_size {self.chunk_size} is not a multiple of frame_stride {self.frame_stride}")
        if self.pose_maps and self.kinematics is not None:
            highest = max(self.kinematics.joint_index, default=0)
            if highest >= self.action_dim:
                raise ValueError(f"kinematics read action index {highest}; actions have {self.action_dim}")
        factor = self.denoiser.space_to_depth * 2 ** (len(self.denoiser.channels) - 1)
        if any(s % factor for s in self.image_size):
            raise ValueError(f"image_size {self.image_size} must be divisible by {factor} "
                             f"(space-to-depth x the U-Net's downsampling)")

    @property
    def frames_per_chunk(self) -> int:
        return self.chunk_size // self.frame_stride

    @property
    def action_window(self) -> int:
        """Actions conditioning one predicted frame: the stride's own and the one before."""
        return 2 * self.frame_stride

    @property
    def pose_map_channels(self) -> int:
        """Input channels of the arm-pose maps: the robot's channels at two instants."""
        if not self.pose_maps:
            return 0
        if self.kinematics is None:
            raise ValueError("pose_maps needs the robot's kinematics (the app fills them in: robot/sim/kinematics.py)")
        return 2 * self.kinematics.channels

    @property
    def action_features(self) -> int:
        """Numbers the network reads of one window's actions (``action_input``)."""
        return (self.action_window + int(self.action_input == "motion")) * self.action_dim


# Training schedule shared by the CLI and the cycle (AdamW, warm-up, cosine decay).
PRETRAIN_LR, ALIGN_LR = 3e-4, 1e-4
PRETRAIN_STEPS = 20_000

PROFILES = {
    "tiny": WorldModelConfig(image_size=(32, 48), frame_stride=4, context_frames=2,
                             denoiser=DenoiserConfig(channels=(8, 16), cond_dim=32, groups=4),
                             diffusion=DiffusionConfig(sampling_steps=2)),
    # Measured on the imagination ladder (benchmarks/results/imagination-ladder.md), same data and seeds:
    # - the change from the last frame, not the frame: one chunk 26.0 dB against 24.1 at 1500 steps,
    #   the cube kept in 20% of the frames to step 128 against 0%;
    # - arm-pose maps and one context frame (nothing but the actions then says where the arms go):
    #   26.4 dB, 20.4 against a frozen frame's 18.7 at step 392, cube kept in 59%;
    # - one Euler step: on the same 4500-step model, better on every fidelity rung than 3 (27.8 dB
    #   against 27.2, cube 87% against 81%) and twice as fast (41 frames/s on 2 cores).
    "cpu": WorldModelConfig(target="change", context_frames=1, pose_maps=True, camera=CPU_CAMERA,
                            diffusion=DiffusionConfig(sigma_data=0.1, sigma_max=1.0, train_log_sigma_mean=-2.0,
                                                      sampling_steps=1)),
    # The gpu policy's 224x224 frames, a wider and deeper network, a frame every 4 steps; the same recipe.
    "gpu": WorldModelConfig(image_size=(224, 224), frame_stride=4,
                            denoiser=DenoiserConfig(channels=(64, 128, 256, 256), depth=2, cond_dim=512, groups=32,
                                                    checkpoint_activations=True)),
}


def profile(name: str, **overrides) -> WorldModelConfig:
    return pick_profile(PROFILES, name, **overrides)
