"""AgileX Cobot Magic (the paper's "Cobot Mobile ALOHA"): two Piper arms over CAN behind their ROS 2
driver nodes, cameras on ROS Image topics, a Tracer base on /cmd_vel. Reuses the Mobile ALOHA
transport (rclpy or Cyclone DDS), message structs, safety filter and site-file machinery."""
