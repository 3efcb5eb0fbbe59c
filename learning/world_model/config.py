"""World-model configuration and the three profiles (tiny for tests, cpu, gpu)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from learning.profiles import pick_profile

SAMPLERS = ("ddim", "ddpm")  # diffusers schedulers imagination can sample with


@dataclass(frozen=True)
class VAEConfig:
    """A diffusers AutoencoderKL: built from these numbers, or loaded from ``pretrained_path``."""

    pretrained_path: str | None = None  # e.g. an SDXL VAE folder (gpu profile); never downloaded
    # 4 levels: 8x downsampling. Decoding is most of imagination's time on a CPU, and the
    # full-resolution levels dominate it: 8 channels there decode a 96x128 frame in 8 ms
    # on 2 cores, 16 channels in 35 ms (measured).
    block_out_channels: tuple[int, ...] = (8, 16, 32, 64)
    layers_per_block: int = 1
    latent_channels: int = 4
    norm_num_groups: int = 8
    kl_weight: float = 1e-6  # the KL term only keeps latents well-scaled; reconstruction dominates
    # Reconstruction weight of pixels unlike the rest of the batch (0 = plain L1 + MSE). The task's
    # object is a few pixels of a 96x128 frame: unweighted, the VAE drops it and gains almost
    # nothing in loss (measured: 0% of the cube's pixels kept), and imagination cannot show success.
    salience_weight: float = 0.0


@dataclass(frozen=True)
class WorldModelConfig:
    camera: str = "cam_high"  # the policy's camera: imagined frames feed the policy directly
    image_size: tuple[int, int] = (96, 128)  # (height, width)
    action_dim: int = 14
    context_frames: int = 4  # c: frames the prediction is conditioned on
    chunk_size: int = 8  # K: frames predicted per action chunk (one frame per action)
    vae: VAEConfig = VAEConfig()
    # Diffusion transformer over latent patches of all c + K frames.
    patch_size: int = 2
    width: int = 128
    depth: int = 4
    heads: int = 4
    # Diffusion: epsilon prediction over 1000 DDPM steps (the paper); conditioning frames get
    # a small noise level while training so that imagination tolerates its own imperfect
    # frames (paper 50/1000, official code 15/1000).
    train_timesteps: int = 1000
    context_noise_steps: int = 15
    ema_decay: float = 0.99  # official code 0.99 (paper 0.9999 at far more steps)
    sampler: str = "ddim"  # default sampler; chosen again at sampling time
    sampling_steps: int = 4

    def __post_init__(self):
        if self.context_frames < 1 or self.chunk_size < 1:
            raise ValueError(f"context_frames {self.context_frames} and chunk_size {self.chunk_size}: expected >= 1")
        if not 0 <= self.context_noise_steps < self.train_timesteps:
            raise ValueError(f"context_noise_steps {self.context_noise_steps}; expected 0..{self.train_timesteps - 1}")
        factor = 2 ** (len(self.vae.block_out_channels) - 1) * self.patch_size
        if any(s % factor for s in self.image_size):
            raise ValueError(f"image_size {self.image_size} must be divisible by {factor} "
                             f"(VAE downsampling x patch size)")
        if self.width % self.heads:
            raise ValueError(f"width {self.width} is not divisible by heads {self.heads}")

    @property
    def latent_size(self) -> tuple[int, int]:
        factor = 2 ** (len(self.vae.block_out_channels) - 1)
        return self.image_size[0] // factor, self.image_size[1] // factor

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "WorldModelConfig":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        vae = {k: v for k, v in known.get("vae", {}).items() if k in VAEConfig.__dataclass_fields__}
        vae["block_out_channels"] = tuple(vae.get("block_out_channels", VAEConfig.block_out_channels))
        known["vae"] = VAEConfig(**vae)
        known["image_size"] = tuple(known.get("image_size", cls.image_size))
        return cls(**known)


PROFILES = {
    "tiny": WorldModelConfig(image_size=(32, 48), vae=VAEConfig(block_out_channels=(8, 16, 16), norm_num_groups=4),
                             width=32, depth=1, heads=2, sampling_steps=2),
    "cpu": WorldModelConfig(),
    # Paper scale: SDXL VAE (8x, 4 latent channels) from a local folder, 256x256 frames.
    "gpu": WorldModelConfig(image_size=(256, 256), vae=VAEConfig(pretrained_path="models/sdxl-vae"),
                            width=1152, depth=28, heads=16, context_noise_steps=50, sampling_steps=30,
                            ema_decay=0.9999),
}


def profile(name: str, **overrides) -> WorldModelConfig:
    return pick_profile(PROFILES, name, **overrides)
