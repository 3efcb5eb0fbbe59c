"""Subprocess for the cross-vendor test: a real rclpy node (run by a Python that has the ROS 2 wheels,
RMW_IMPLEMENTATION chosen by the test).

Usage: python rclpy_peer.py DOMAIN_ID
Subscribes /wmpo_probe/to_ros/{joint_states,image,cmd_vel} and prints each message as rclpy decoded
it (one JSON line, first of each kind only); publishes fixed messages on /wmpo_probe/from_ros/... at
20 Hz. Prints "ready" once up; runs until killed.
"""

import json
import sys

import rclpy
from geometry_msgs.msg import Twist
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState

rclpy.init(domain_id=int(sys.argv[1]))
node = rclpy.create_node("wmpo_rclpy_peer")
seen = set()


def report(kind, fields):
    if kind not in seen:
        seen.add(kind)
        print(json.dumps({"kind": kind, **fields}), flush=True)


node.create_subscription(JointState, "/wmpo_probe/to_ros/joint_states", lambda m: report("joint_states", {
    "stamp": [m.header.stamp.sec, m.header.stamp.nanosec], "frame_id": m.header.frame_id, "name": list(m.name),
    "position": list(m.position), "velocity": list(m.velocity), "effort": list(m.effort)}), 10)
node.create_subscription(Image, "/wmpo_probe/to_ros/image", lambda m: report("image", {
    "height": m.height, "width": m.width, "encoding": m.encoding, "is_bigendian": m.is_bigendian, "step": m.step,
    "data": list(bytes(m.data))}), qos_profile_sensor_data)
node.create_subscription(Twist, "/wmpo_probe/to_ros/cmd_vel", lambda m: report("cmd_vel", {
    "linear": [m.linear.x, m.linear.y, m.linear.z], "angular": [m.angular.x, m.angular.y, m.angular.z]}), 10)

joint_pub = node.create_publisher(JointState, "/wmpo_probe/from_ros/joint_states", 10)
image_pub = node.create_publisher(Image, "/wmpo_probe/from_ros/image", qos_profile_sensor_data)
twist_pub = node.create_publisher(Twist, "/wmpo_probe/from_ros/cmd_vel", 10)


def publish():
    joints = JointState()
    joints.header.stamp.sec, joints.header.stamp.nanosec, joints.header.frame_id = 12, 345, "follower_left"
    joints.name = ["waist", "shoulder", "gripper"]
    joints.position, joints.velocity, joints.effort = [0.5, -0.96, 1.25], [0.1, 0.0, -0.2], [1.0, 2.0, 3.0]
    joint_pub.publish(joints)
    image = Image()
    image.header.frame_id, image.height, image.width, image.encoding = "cam_high", 2, 3, "rgb8"
    image.step, image.data = 9, bytes(range(18))
    image_pub.publish(image)
    twist = Twist()
    twist.linear.x, twist.angular.z = 0.25, -0.5
    twist_pub.publish(twist)


node.create_timer(0.05, publish)
print("ready", flush=True)
rclpy.spin(node)
