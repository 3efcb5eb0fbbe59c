"""The success reward model: the paper's clips, balanced batches, threshold, sliding window.

The end-to-end tests use a real tiny VideoMAE trained on hand-made episodes in a real
store: a successful episode ends with bright frames (the "success" the model must see);
failed ones never get bright.
"""

import numpy as np
import pytest
import torch
from transformers import VideoMAEConfig, VideoMAEModel

from app.cli import main
from learning.reward_model.clips import ClipIndex, at_stride, clip_frames, clip_steps, episode_clips, window_ends
from learning.reward_model.config import profile
from learning.reward_model.judge import choose_threshold, judge, scores, window_probabilities
from learning.reward_model.model import RewardModel
from learning.reward_model.on_store import reward_splits, train_success_model
from learning.reward_model.training import episode_max_probabilities, load_reward_model
from learning.trainer import TrainConfig
from storage import EpisodeInfo, EpisodeSpec, TrajectoryStore

TINY = profile("tiny", frame_stride=1)  # the paper's clips; the stride is tested on its own
H, W = TINY.image_size
SPEC = EpisodeSpec(cameras={"cam_high": (H, W, 3)})


def frames_with_success(length: int, bright_from: int | None, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 60, size=(length, H, W, 3), dtype=np.uint8)
    if bright_from is not None:
        frames[bright_from:, H // 4:3 * H // 4, W // 4:3 * W // 4] = 250
    return frames


def write(store, seed, length, success, source="policy"):
    frames = frames_with_success(length, length - 3 if success else None, seed)
    info = EpisodeInfo(task="transfer_cube", instruction="", source=source, seed=seed, control_period_s=0.02)
    with store.episode_writer(info, SPEC) as writer:
        for t in range(length):
            writer.add_step(np.zeros(14, np.float32), np.zeros(14, np.float32), {"cam_high": frames[t]})
        return writer.commit(success=success, label_source="env")


def test_clips_are_built_as_the_paper_says():
    win = episode_clips(7, length=30, success=True, span=8)
    assert win.positive_ends.tolist() == [30]  # the terminal clip c_N
    assert win.negative_ends.tolist() == list(range(8, 23))  # c_i, L <= i <= N-L: none overlaps c_N
    assert max(win.negative_ends) <= 30 - 8
    loss = episode_clips(8, length=30, success=False, span=8)
    assert loss.positive_ends.tolist() == [] and loss.negative_ends.tolist() == list(range(8, 31))
    unlabelled = episode_clips(9, length=30, success=None, span=8)
    assert len(unlabelled.positive_ends) == len(unlabelled.negative_ends) == 0
    short = episode_clips(10, length=5, success=True, span=8)  # one padded clip, positive
    assert short.positive_ends.tolist() == [5] and short.negative_ends.tolist() == []
    assert episode_clips(11, length=5, success=False, span=8).negative_ends.tolist() == [5]


def test_clip_frames_repeat_the_first_frame_before_the_start():
    frames = np.arange(5)[:, None, None, None] * np.ones((5, 2, 2, 3), np.uint8)
    assert clip_frames(frames, 5, 8)[:, 0, 0, 0].tolist() == [0, 0, 0, 0, 0, 1, 2, 3, 4][1:]
    assert clip_frames(frames, 5, 3)[:, 0, 0, 0].tolist() == [2, 3, 4]


def test_clips_at_the_world_models_frame_stride_end_on_the_last_frame():
    config = profile("tiny", frame_stride=4)
    assert config.span == (config.clip_len - 1) * 4 + 1
    assert clip_steps(30, 4, 4).tolist() == [17, 21, 25, 29]  # the terminal clip, every 4th step
    assert clip_steps(6, 4, 4).tolist() == [0, 0, 1, 5]  # before the start: step 0
    recorded = np.arange(30)[:, None, None, None] * np.ones((30, 2, 2, 3), np.uint8)
    assert at_stride(recorded, 4)[:, 0, 0, 0].tolist() == [1, 5, 9, 13, 17, 21, 25, 29]  # ends with the success
    # an episode judged at the stride sees the same terminal clip the model was trained on
    assert clip_frames(at_stride(recorded, 4), 8, 4)[:, 0, 0, 0].tolist() == clip_steps(30, 4, 4).tolist()


def test_batches_are_balanced_and_need_both_classes():
    index = ClipIndex.build([episode_clips(1, 40, True, 8), episode_clips(2, 40, False, 8),
                             episode_clips(3, 40, False, 8)])
    assert len(index.positive) == 1 and len(index.negative) == 25 + 33 + 33
    refs, labels = index.balanced_batch(np.random.default_rng(0), 16)
    assert labels.sum() == 8 and refs.shape == (16, 2)
    assert all(tuple(r) == (1, 40) for r in refs[labels == 1])  # every positive is the terminal clip
    assert not any(tuple(r) == (1, 40) for r in refs[labels == 0])
    with pytest.raises(ValueError, match="needs both"):
        ClipIndex.build([episode_clips(2, 40, False, 8)]).balanced_batch(np.random.default_rng(0), 4)


def test_sliding_windows_always_include_the_terminal_clip():
    assert window_ends(20, 8, 1).tolist() == list(range(8, 21))
    assert window_ends(20, 8, 5).tolist() == [8, 13, 18, 20]  # stride 5 would skip the last frames
    assert window_ends(3, 8, 1).tolist() == [3]  # shorter than a clip: still scored once


def test_threshold_maximises_f1_and_needs_a_success():
    probabilities = np.array([0.05, 0.2, 0.4, 0.7, 0.9, 0.95])
    labels = np.array([0, 0, 1, 0, 1, 1], bool)
    best = choose_threshold(probabilities, labels)
    assert best.f1 == pytest.approx(scores(probabilities, labels, 0.3).f1)  # catches all three, one false
    assert best.f1 == pytest.approx(0.857, abs=1e-3)
    assert 0.2 < best.threshold < 0.4
    separable = choose_threshold(np.array([0.1, 0.3, 0.8]), np.array([0, 0, 1], bool))
    # the middle, in logits, of the gap between 0.3 and 0.8: sigmoid((logit(0.3) + logit(0.8)) / 2)
    assert separable.f1 == 1.0 and separable.threshold == pytest.approx(0.5670, abs=1e-4)
    with pytest.raises(ValueError, match="no successful episode"):
        choose_threshold(np.array([0.1, 0.9]), np.array([0, 0], bool))


def test_one_probability_definition_everywhere():
    torch.manual_seed(0)
    model = RewardModel(TINY).eval()
    clips = torch.from_numpy(np.stack([frames_with_success(8, 5, s) for s in range(3)]))
    with torch.no_grad():
        assert torch.allclose(model.probabilities(clips), torch.sigmoid(model.logits(clips)))
    frames = frames_with_success(20, 15, 0)
    probabilities, ends = window_probabilities(model, frames, stride=3)
    assert ends.tolist() == [8, 11, 14, 17, 20]
    with torch.no_grad():
        last = model.probabilities(torch.from_numpy(frames[12:20][None]))
    assert probabilities[-1] == pytest.approx(last.item(), abs=1e-6)
    assert judge(model, frames, stride=3).max_probability == pytest.approx(probabilities.max())
    # a continuation is judged on the windows that end in it: after frame 12, those ending at 14, 17, 20
    tail, tail_ends = window_probabilities(model, frames, stride=3, from_frame=13)
    assert tail_ends.tolist() == [14, 17, 20] and tail == pytest.approx(probabilities[2:], abs=1e-6)
    assert judge(model, frames, stride=3, from_frame=13).max_probability == pytest.approx(tail.max())
    with pytest.raises(ValueError, match="from_frame 20: expected a frame of the 20 given"):
        judge(model, frames, from_frame=20)
    with pytest.raises(ValueError, match="expected"):
        model.logits(clips[:, :4])


def test_pretrained_videomae_loads_from_a_local_folder(tmp_path):
    VideoMAEModel(VideoMAEConfig(image_size=64, patch_size=8, num_frames=16, tubelet_size=2, hidden_size=32,
                                 num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
                  ).save_pretrained(tmp_path / "videomae")
    config = profile("gpu", image_size=(32, 32), pretrained_path=str(tmp_path / "videomae"))
    model = RewardModel(config)  # 8-frame clips, 32x32 input: sinusoidal positions are rebuilt
    clips = torch.zeros(2, 8, 40, 56, 3, dtype=torch.uint8)  # any frame size: resized to the encoder's
    assert model.probabilities(clips).shape == (2,)
    with pytest.raises(Exception, match="never downloaded"):
        RewardModel(profile("gpu", pretrained_path=str(tmp_path / "missing")))


@pytest.fixture
def labelled_store(store):
    ids = [write(store, seed, 24, success=seed % 3 == 0) for seed in range(40)]
    return store, ids


def test_trained_model_finds_the_success_and_its_frame(labelled_store, tmp_path):
    store, ids = labelled_store
    training, validation, held_out, evaluation = reward_splits(store, "transfer_cube", "cam_high")
    assert held_out == ids[9::10] and evaluation == []
    assert not set(training) & set(validation) and not (set(training) | set(validation)) & set(held_out)
    train = TrainConfig(steps=60, lr=1e-3, warmup_steps=5, log_every=20, checkpoint_every=30)
    report = train_success_model(store, "reward", "transfer_cube", TINY, train, batch_size=16)
    assert report.held_out.positives == 2  # seeds 9 and 39
    assert report.validation.f1 == 1.0 and report.held_out.f1 == 1.0
    assert [m.name for m in store.metrics()][-2:] == ["reward/f1_validation", "reward/f1_held_out"]
    registered = store.models.get("reward_model", "reward")  # registered beside policy versions
    assert registered.checkpoint_path == report.folder.resolve() and registered.config["task"] == "transfer_cube"
    assert store.models.verify("reward_model", "reward") == registered.checkpoint_path

    model = load_reward_model(report.folder)  # the checkpoint carries the chosen threshold
    assert model.config.threshold == pytest.approx(report.validation.threshold)
    late = frames_with_success(40, 30, seed=99)
    verdict = judge(model, late)
    assert verdict.success and 30 <= verdict.success_frame <= 37
    assert not judge(model, frames_with_success(40, None, seed=98)).success
    maxima = episode_max_probabilities(store, model, held_out)
    assert maxima.tolist() == pytest.approx([judge(model, store.load_frames(e, "cam_high")).max_probability
                                             for e in held_out])


def test_train_reward_cli_reports_and_refuses_without_failures(tmp_path, capsys):
    db = tmp_path / "wmpo.db"
    with TrajectoryStore(db) as store:
        for seed in range(6):
            write(store, seed, 24, success=True, source="expert")
    assert main(["--db", str(db), "train-reward", "--profile", "tiny", "--steps", "4"]) == 2
    assert "needs failures" in capsys.readouterr().err
    with TrajectoryStore(db) as store:
        for seed in range(6, 24):
            write(store, seed, 24, success=seed % 3 == 0)
    assert main(["--db", str(db), "train-reward", "--profile", "tiny", "--steps", "4", "--batch", "4"]) == 0
    out = capsys.readouterr().out
    assert "validation: F1" in out and "held_out: F1" in out
    assert (db.parent / "checkpoints" / "reward-models" / "reward-transfer_cube" / "model.safetensors").is_file()


def test_imagined_replays_are_clips_of_their_own_at_the_stride(labelled_store):
    from learning.reward_model.training import ImaginedReplay, clip_index, read_clip

    store, ids = labelled_store
    config = profile("tiny", frame_stride=4)
    replay = ImaginedReplay(frames=np.arange(12)[:, None, None, None] * np.ones((12, 32, 48, 3), np.uint8),
                            success=True)
    index = clip_index(store, ids[:2], config, [replay])
    assert [-1, 12] in index.positive.tolist()  # the replay's terminal clip, in frames of the replay
    assert all(end <= 12 - config.clip_len for e, end in index.negative.tolist() if e == -1)
    clip = read_clip(store, -1, 12, config, [replay])
    assert clip[:, 0, 0, 0].tolist() == list(range(12 - config.clip_len, 12))  # consecutive: already at the stride
    stored = read_clip(store, ids[0], 24, config)  # a stored episode: every 4th step, ending at the last
    assert stored.shape == (config.clip_len, 32, 48, 3)


def test_terminal_clips_make_every_clip_ending_in_the_last_stride_positive():
    win = episode_clips(7, length=30, success=True, span=8, terminal_clips=4)
    assert win.positive_ends.tolist() == [27, 28, 29, 30]  # wherever a stride-4 grid's last frame falls
    assert max(win.negative_ends) <= 30 - 8  # negatives still overlap none of them
    assert episode_clips(10, length=2, success=True, span=8, terminal_clips=4).positive_ends.tolist() == [1, 2]
    assert episode_clips(8, length=30, success=False, span=8, terminal_clips=4).positive_ends.tolist() == []
    near = episode_clips(7, length=30, success=True, span=8, terminal_clips=4, margin=4)
    assert near.negative_ends.tolist() == list(range(8, 27))  # up to 4 steps before the end: "not yet"
    assert near.positive_ends.tolist() == [27, 28, 29, 30]  # none of them a negative too
    with pytest.raises(ValueError, match="success_margin 2: expected from terminal_clips"):
        profile("tiny", terminal_clips=4, success_margin=2)
    with pytest.raises(ValueError, match="terminal_clips 0"):
        profile("tiny", terminal_clips=0)
