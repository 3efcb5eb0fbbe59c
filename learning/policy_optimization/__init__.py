"""Policy optimisation: GRPO (in imagination or on real rollouts) and the offline DPO baseline."""
