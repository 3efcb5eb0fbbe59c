"""Subprocess for the killed-sender test: a Cobot Magic backend that keeps driving the base.

Usage: python cobot_base_sender.py SITE_FILE
Connects (over loopback DDS), prints "driving" once it has commanded the base, and renews the
command every 50 ms until the test kills it with SIGKILL.
"""

import os
import sys
import time

from robot.aloha.dds_transport import loopback_config

os.environ["CYCLONEDDS_URI"] = loopback_config()

from robot.cobot_magic.backend import CobotMagic  # noqa: E402
from robot.cobot_magic.site import load_cobot_site  # noqa: E402

with CobotMagic(load_cobot_site(sys.argv[1])) as robot:
    robot.drive(0.3, 0.2)
    print("driving", flush=True)
    while True:
        time.sleep(0.05)
        robot.drive(0.3, 0.2)
