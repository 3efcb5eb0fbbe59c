"""The offline DPO baseline: trajectory-level preferences from stored rollouts.

A pair is (successful trajectory, failed trajectory) of the same task; the log-likelihood
of a trajectory is the sum of its chunks' exact log-probabilities. The loss is DPO's,
-log sigmoid(beta * ((log pi(w) - log ref(w)) - (log pi(l) - log ref(l)))), with the base
policy as the frozen reference, whose log-probabilities are computed once up front.

``scale``: beta applies to the trajectories' summed log-ratios ("trajectory", DPO as
written), or to each trajectory's log-ratio per action token ("token"). A trajectory here
is ~40 chunks x 112 tokens, so on sums a small change per token is a margin of hundreds of
nats and the loss saturates within a few steps; per token, beta means the same whatever the
episode's length.

``nll_weight``: RPO's anchor (Pang et al. 2024, "Iterative Reasoning Preference Optimization"):
plus that weight times the chosen trajectory's negative log-likelihood per action token. DPO
alone can lower the likelihood of the chosen trajectories along with the rejected ones, as long
as the rejected fall faster; on 128 rollouts that left a policy that succeeded nowhere.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from learning.device import module_device
from learning.policy_optimization.trajectories import Trajectory
from learning.vla.policy import VLAPolicy

MICRO_BATCH = 128


@dataclass(frozen=True)
class DPOConfig:
    # Measured at P=128 on transfer cube (README): per token, beta 2, the anchor, one pass over the pairs
    # keeps the base's success (39.1% vs 42.2%); 8 passes fell to 15.6%, without the anchor to 0%.
    beta: float = 2.0
    scale: str = "token"  # what beta multiplies: "trajectory" log-ratios or per-"token" ones
    lr: float = 5e-6
    steps: int | None = None  # None: one pass over the preference pairs
    pairs_per_step: int = 4
    grad_clip: float = 1.0
    seed: int = 0
    nll_weight: float = 1.0  # RPO: the chosen trajectory's NLL per token, this much of it

    def __post_init__(self):
        if self.scale not in ("trajectory", "token"):
            raise ValueError(f"DPO scale {self.scale!r}; expected 'trajectory' or 'token'")
        if self.nll_weight < 0:
            raise ValueError(f"DPO nll_weight {self.nll_weight}; expected >= 0")

    def to_json(self) -> dict:
        return asdict(self)


def trajectory_log_prob(policy: VLAPolicy, trajectory: Trajectory) -> torch.Tensor:
    """Sum of the trajectory's chunk log-probabilities (temperature 1), with gradient."""
    total = torch.zeros((), device=module_device(policy))
    for i in range(0, len(trajectory.steps), MICRO_BATCH):
        part = slice(i, i + MICRO_BATCH)
        n = len(trajectory.steps[part])
        commands = None if trajectory.commands is None else trajectory.commands[part]
        total = total + policy.log_prob(trajectory.images[part], [trajectory.instruction] * n,
                                        trajectory.steps[part], trajectory.bins[part], commands=commands).sum()
    return total


def preference_pairs(trajectories: list[Trajectory], seed: int = 0) -> list[tuple[int, int]]:
    """Each failure paired with a successful trajectory, in turn (every success is used)."""
    wins = [i for i, t in enumerate(trajectories) if t.reward > 0]
    losses = [i for i, t in enumerate(trajectories) if t.reward <= 0]
    if not wins or not losses:
        raise ValueError(f"DPO needs successful and failed trajectories; got {len(wins)} and {len(losses)}")
    order = np.random.default_rng(seed).permutation(len(wins))
    return [(wins[order[k % len(wins)]], loss) for k, loss in enumerate(losses)]


def train_dpo(policy: VLAPolicy, reference: VLAPolicy, trajectories: list[Trajectory], config: DPOConfig,
              progress=None) -> dict:
    pairs = preference_pairs(trajectories, config.seed)
    with torch.no_grad():
        reference_log_probs = [trajectory_log_prob(reference.eval(), t).item() for t in trajectories]
    # what one unit of log-ratio is: the whole trajectory, or one of its action tokens
    units = [t.bins.numel() if config.scale == "token" else 1 for t in trajectories]
    optimizer = torch.optim.AdamW(policy.parameters(), lr=config.lr, weight_decay=0.0)
    rng = np.random.default_rng(config.seed)
    policy.train()
    history = []
    steps = config.steps or -(-len(pairs) // config.pairs_per_step)
    for step in range(steps):
        chosen = rng.choice(len(pairs), size=min(config.pairs_per_step, len(pairs)), replace=False)
        optimizer.zero_grad(set_to_none=True)
        losses, margins = [], []
        for k in chosen:
            win, lose = pairs[k]
            win_log_prob = trajectory_log_prob(policy, trajectories[win])
            margin = ((win_log_prob - reference_log_probs[win]) / units[win]
                      - (trajectory_log_prob(policy, trajectories[lose]) - reference_log_probs[lose]) / units[lose])
            nll = -win_log_prob / trajectories[win].bins.numel()
            loss = (-F.logsigmoid(config.beta * margin) + config.nll_weight * nll) / len(chosen)
            loss.backward()  # one pair at a time: memory stays at one trajectory pair
            losses.append(loss.item() * len(chosen))
            margins.append(margin.item())
        torch.nn.utils.clip_grad_norm_(policy.parameters(), config.grad_clip)
        optimizer.step()
        history.append({"loss": float(np.mean(losses)), "margin": float(np.mean(margins))})
        if progress is not None:
            progress(step + 1, steps, history[-1])
    policy.eval()
    return {"pairs": len(pairs), "final": history[-1] if history else None}
