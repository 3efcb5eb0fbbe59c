"""The real Mobile ALOHA: site configuration, ROS 2 transport (rclpy or Cyclone DDS), RealSense
cameras, the MobileAloha robot backend, leader-arm teleoperation, the doctor, and a simulated
node that publishes the MuJoCo sim on the robot's ROS 2 topics."""
