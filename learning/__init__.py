"""Policy, world model, reward model, GRPO / DPO and evaluation (issue 4 onwards)."""
