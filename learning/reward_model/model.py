"""VideoMAE encoder + linear head: the probability that a clip shows the task's success.

One probability definition everywhere -- the sigmoid of one logit -- in the training loss
(BCE with logits), threshold selection and inference. The official code trained with one
definition and thresholded another (sigmoid vs softmax); here there is nothing to mix.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import VideoMAEConfig, VideoMAEModel

from learning.checkpoints import CheckpointError
from learning.reward_model.config import RewardModelConfig

# VideoMAE's own input normalisation (ImageNet statistics), what a pretrained encoder expects.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def make_encoder(config: RewardModelConfig) -> VideoMAEModel:
    size = list(config.image_size)
    if config.pretrained_path is not None:
        path = Path(config.pretrained_path)
        if not (path / "config.json").is_file():
            raise CheckpointError(f"pretrained VideoMAE folder {path} has no config.json; put a transformers "
                                  f"VideoMAE there (save_pretrained) -- models are never downloaded at run time")
        # Position embeddings are fixed sinusoids: clip length and frame size may differ from pretraining.
        return VideoMAEModel.from_pretrained(path, local_files_only=True, num_frames=config.clip_len,
                                             image_size=size, use_mean_pooling=True)
    return VideoMAEModel(VideoMAEConfig(
        image_size=size, patch_size=config.patch_size, num_frames=config.clip_len, tubelet_size=config.tubelet_size,
        hidden_size=config.hidden_size, num_hidden_layers=config.layers, num_attention_heads=config.heads,
        intermediate_size=config.intermediate_size, use_mean_pooling=True))


class RewardModel(nn.Module):
    def __init__(self, config: RewardModelConfig):
        super().__init__()
        self.config = config
        self.encoder = make_encoder(config)
        hidden = self.encoder.config.hidden_size
        self.norm = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, 1)
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 1, 3, 1, 1), persistent=False)

    def logits(self, clips: torch.Tensor) -> torch.Tensor:
        """clips: uint8 (B, L, H, W, 3) -> (B,) success logits."""
        if clips.ndim != 5 or clips.shape[1] != self.config.clip_len or clips.shape[-1] != 3:
            raise ValueError(f"clips of shape {tuple(clips.shape)}; expected (batch, {self.config.clip_len}, H, W, 3)")
        b, n, h, w, _ = clips.shape
        x = clips.to(self.mean.device).permute(0, 1, 4, 2, 3).float().div(255.0)
        if (h, w) != tuple(self.config.image_size):
            x = F.interpolate(x.reshape(b * n, 3, h, w), size=self.config.image_size, mode="bilinear",
                              antialias=True, align_corners=False).reshape(b, n, 3, *self.config.image_size)
        x = (x - self.mean) / self.std
        pooled = self.encoder(pixel_values=x).last_hidden_state.mean(1)
        return self.head(self.norm(pooled)).squeeze(-1)

    def probabilities(self, clips: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(clips))

    def loss(self, batch: dict) -> tuple[torch.Tensor, dict]:
        logits = self.logits(batch["clips"])
        labels = batch["labels"].float()
        loss = F.binary_cross_entropy_with_logits(logits, labels)
        accuracy = ((logits > 0).float() == labels).float().mean()
        return loss, {"accuracy": accuracy.item()}
