"""Backbones: (images uint8 (B, H, W, 3), instructions) -> fused features (B, embed_dim).

- SmallBackbone (cpu profile): a four-layer CNN trained from scratch, and the instruction
  as a bag of hashed words.
- PretrainedBackbone (gpu profile): a CLIP/SigLIP-style vision-language dual encoder
  loaded from a local folder through transformers (never from a hub).
Which one is used is configuration (PolicyConfig.backbone), not code.
"""

from __future__ import annotations

import math
import re
import zlib
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from learning.vla.config import PolicyConfig


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, channels), channels)


def hashed_words(text: str, buckets: int) -> list[int]:
    """Stable word ids (crc32, not Python's salted hash) so checkpoints survive restarts."""
    words = re.findall(r"[a-z0-9]+", text.lower()) or [""]
    return [zlib.crc32(word.encode()) % buckets for word in words]


class SmallBackbone(nn.Module):
    """CNN from scratch for few demonstrations: where things are matters most.

    Two coordinate channels are added to the image (CoordConv) and the last feature map
    (1/8 resolution) is read out twice: as spatial-softmax keypoints -- the expected image
    position of each channel's strongest response, which finds a 4 cm cube that is a few
    pixels wide -- and, pooled, flattened, for the arms' overall pose.
    """

    def __init__(self, config: PolicyConfig):
        super().__init__()
        c = config.width
        self.conv = nn.Sequential(
            nn.Conv2d(5, c, 5, stride=2, padding=2), _norm(c), nn.GELU(),
            nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), _norm(2 * c), nn.GELU(),
            nn.Conv2d(2 * c, 4 * c, 3, stride=2, padding=1), _norm(4 * c), nn.GELU(),
            nn.Conv2d(4 * c, 4 * c, 3, stride=1, padding=1), _norm(4 * c), nn.GELU(),
        )
        h, w = (math.ceil(s / 8) for s in config.image_size)
        self.keypoint_logits = nn.Conv2d(4 * c, 2 * c, 1)
        self.pooled = nn.AvgPool2d(2, ceil_mode=True)
        pooled_cells = math.ceil(h / 2) * math.ceil(w / 2)
        self.project = nn.Sequential(nn.Linear(4 * c * pooled_cells + 2 * 2 * c, config.embed_dim),
                                     nn.LayerNorm(config.embed_dim))
        self.words = nn.EmbeddingBag(config.vocab_buckets, config.embed_dim, mode="mean")
        self.fuse = nn.Sequential(nn.GELU(), nn.Linear(2 * config.embed_dim, config.embed_dim), nn.GELU())
        self.buckets = config.vocab_buckets
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, config.image_size[0]),
                                torch.linspace(-1, 1, config.image_size[1]), indexing="ij")
        self.register_buffer("coords", torch.stack([ys, xs])[None], persistent=False)
        fy, fx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        self.register_buffer("grid", torch.stack([fy.flatten(), fx.flatten()], 1), persistent=False)

    def forward(self, images: torch.Tensor, instructions: list[str]) -> torch.Tensor:
        x = images.permute(0, 3, 1, 2).float() / 255.0 - 0.5
        x = torch.cat([x, self.coords.expand(len(x), -1, -1, -1)], dim=1)
        features = self.conv(x)
        attention = self.keypoint_logits(features).flatten(2).softmax(dim=-1)  # (B, K, h*w)
        keypoints = (attention @ self.grid).flatten(1)  # (B, 2K) expected (y, x) per keypoint
        visual = self.project(torch.cat([self.pooled(features).flatten(1), keypoints], dim=1))
        ids = [hashed_words(text, self.buckets) for text in instructions]
        offsets = torch.tensor([0] + [len(i) for i in ids[:-1]], device=images.device).cumsum(0)
        flat = torch.tensor([w for i in ids for w in i], device=images.device)
        return self.fuse(torch.cat([visual, self.words(flat, offsets)], dim=1))


class PretrainedBackbone(nn.Module):
    """Image and text features of a dual encoder (e.g. SigLIP), fused by a linear layer."""

    def __init__(self, config: PolicyConfig):
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        path = Path(config.pretrained_path)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"pretrained backbone folder {path} has no config.json; put a transformers vision-language "
                f"model there (save_pretrained) -- models are never downloaded at run time")
        self.model = AutoModel.from_pretrained(path, local_files_only=True)
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        if not hasattr(self.model, "get_image_features") or not hasattr(self.model, "get_text_features"):
            raise TypeError(f"{type(self.model).__name__} at {path} is not a vision-language dual encoder "
                            f"(needs get_image_features and get_text_features)")
        vision = self.model.config.vision_config
        self.input_size = (vision.image_size, vision.image_size)
        dim = self._feature_dim()
        self.fuse = nn.Sequential(nn.Linear(2 * dim, config.embed_dim), nn.GELU())

    def _feature_dim(self) -> int:
        with torch.no_grad():
            probe = torch.zeros(1, 3, *self.input_size)
            return self._features(self.model.get_image_features(pixel_values=probe)).shape[-1]

    @staticmethod
    def _features(output) -> torch.Tensor:
        # transformers 4 returns a tensor; 5 may return an output object with pooler_output.
        return output if torch.is_tensor(output) else output.pooler_output

    def forward(self, images: torch.Tensor, instructions: list[str]) -> torch.Tensor:
        x = images.permute(0, 3, 1, 2).float() / 127.5 - 1.0
        if tuple(x.shape[-2:]) != self.input_size:
            x = F.interpolate(x, size=self.input_size, mode="bilinear", align_corners=False)
        tokens = self.tokenizer(list(instructions), padding=True, truncation=True, max_length=64,
                                return_tensors="pt").to(images.device)
        image = self._features(self.model.get_image_features(pixel_values=x))
        text = self._features(self.model.get_text_features(
            input_ids=tokens["input_ids"], attention_mask=tokens.get("attention_mask")))
        return self.fuse(torch.cat([image, text], dim=1))


def make_backbone(config: PolicyConfig) -> nn.Module:
    return SmallBackbone(config) if config.backbone == "small" else PretrainedBackbone(config)
