"""The robot layer: Robot interface, MuJoCo ALOHA sim, safety filter, rollouts, experts.

MuJoCo chooses its GL backend when it is first imported; set the headless default here,
before anything imports mujoco (EGL through Mesa; MUJOCO_GL=osmesa where EGL is missing).
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
