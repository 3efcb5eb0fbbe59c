"""Subprocess for the killed-sender tests: a robot backend (the site file's robot) that keeps
driving the base.

Usage: python base_sender.py SITE_FILE V_X OMEGA_Z
Connects (over loopback DDS), prints "driving" once it has commanded the base, and renews the
command every 50 ms until the test kills it with SIGKILL.
"""

import os
import sys
import time

from robot.aloha.dds_transport import loopback_config

os.environ["CYCLONEDDS_URI"] = loopback_config()

from robot.sites import load_robot_site, open_robot  # noqa: E402

velocity = float(sys.argv[2]), float(sys.argv[3])
with open_robot(load_robot_site(sys.argv[1])) as robot:
    robot.drive(*velocity)
    print("driving", flush=True)
    while True:
        time.sleep(0.05)
        robot.drive(*velocity)
