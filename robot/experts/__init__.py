"""Scripted experts: demonstrations planned in end-effector space, replayed as joint targets."""
