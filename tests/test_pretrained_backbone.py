"""The gpu profile's backbone: a transformers vision-language model from a local folder.

No hub: a tiny CLIP with random weights and a tiny WordPiece vocabulary is built here and
saved with save_pretrained, exactly the layout a real local model folder has.
"""

import numpy as np
import pytest
import torch
from transformers import BertTokenizerFast, CLIPConfig, CLIPModel

from learning.action_bins import ActionBins
from learning.checkpoints import load_weights, save_checkpoint
from learning.vla.config import PolicyConfig
from learning.vla.policy import VLAPolicy

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "pick", "up", "the", "red", "cube", "insert", "peg"]


@pytest.fixture(scope="module")
def tiny_clip_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-clip")
    (folder / "vocab.txt").write_text("\n".join(WORDS))
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    config = CLIPConfig(
        text_config=dict(vocab_size=len(WORDS), hidden_size=16, intermediate_size=32, num_attention_heads=2,
                         num_hidden_layers=1, max_position_embeddings=32, pad_token_id=0, bos_token_id=2,
                         eos_token_id=3),
        vision_config=dict(hidden_size=16, intermediate_size=32, num_attention_heads=2, num_hidden_layers=1,
                           image_size=32, patch_size=8),
        projection_dim=16)
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(folder)
    return folder


def pretrained_config(folder) -> PolicyConfig:
    return PolicyConfig(image_size=(32, 48), backbone="pretrained", pretrained_path=str(folder),
                        embed_dim=32, query_dim=16, head_hidden=32)


def test_pretrained_backbone_drives_the_same_head(tiny_clip_folder):
    policy = VLAPolicy(pretrained_config(tiny_clip_folder), ActionBins(low=(-1.0,) * 14, high=(1.0,) * 14)).eval()
    images = torch.randint(0, 256, (2, 32, 48, 3), dtype=torch.uint8)
    instructions = ["pick up the red cube", "insert the peg"]
    steps = torch.tensor([0, 200])
    bins, log_prob = policy.sample(images, instructions, steps, temperature=1.6)
    assert bins.shape == (2, 8, 14)
    np.testing.assert_allclose(policy.log_prob(images, instructions, steps, bins, 1.6).detach(), log_prob, rtol=1e-5)
    loss, _ = policy.loss({"images": images, "instructions": instructions, "steps": steps,
                           "actions": torch.zeros(2, 8, 14)})
    loss.backward()
    assert policy.backbone.model.text_model.embeddings.token_embedding.weight.grad is not None


def test_checkpoint_of_a_pretrained_policy_round_trips(tiny_clip_folder, tmp_path):
    config = pretrained_config(tiny_clip_folder)
    bins = ActionBins(low=(-1.0,) * 14, high=(1.0,) * 14)
    policy = VLAPolicy(config, bins).eval()
    save_checkpoint(tmp_path / "ckpt", policy, {"policy": config.to_json()})
    restored = VLAPolicy(PolicyConfig.from_json(config.to_json()), bins).eval()
    load_weights(tmp_path / "ckpt", restored)
    images = torch.randint(0, 256, (1, 32, 48, 3), dtype=torch.uint8)
    steps = torch.tensor([8])
    assert torch.equal(policy.logits(images, ["pick"], steps), restored.logits(images, ["pick"], steps))


def test_missing_local_model_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        VLAPolicy(pretrained_config(tmp_path / "nowhere"), ActionBins(low=(-1.0,) * 14, high=(1.0,) * 14))
    with pytest.raises(ValueError, match="needs pretrained_path"):
        PolicyConfig(backbone="pretrained")
