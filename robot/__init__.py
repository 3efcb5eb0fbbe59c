"""The robot layer: Robot interface, MuJoCo ALOHA sim, Mobile ALOHA over ROS 2 (issue 3 onwards)."""
