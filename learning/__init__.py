"""Policy, world model, reward model, WMPO (`wmpo.py`), GRPO / DPO and evaluation (issue 4 onwards)."""
