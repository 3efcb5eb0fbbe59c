"""Named layouts of ALOHA-style episode_N.hdf5 files: how a recorder's numbers differ from ours.

Both layouts share the datasets (``/observations/qpos``, ``/action``, ``/observations/images/<cam>``,
optional ``qvel``/``effort``); they differ in the gripper columns' units and the base:

* ``aloha``: the ALOHA / ACT recorders; grippers already normalised (0 closed .. 1 open).
* ``cobot_magic``: AgileX's Cobot Magic recorder (aloha-agilex / cobot_magic): qpos, qvel, effort
  (T, 14) are the followers [left 7, right 7], ``action`` (T, 14) the leaders, the grippers in
  metres (Piper: 0 closed .. 0.08 open), ``/base_action`` (T, 2) = [v_x (m/s), omega_z (rad/s)],
  recorded at 30 Hz. The base velocities are kept in the episode's ``extra["base_action"]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GRIPPER_COLUMNS = (6, 13)  # of the 14-D vectors: [left 6 joints, left gripper, right 6, right gripper]


@dataclass(frozen=True)
class Hdf5Layout:
    name: str
    gripper_close: float = 0.0  # the file's value for a closed gripper
    gripper_open: float = 1.0  # ... and for an open one
    base_action: bool = False  # /base_action (T, 2) is part of the layout
    control_period_s: float = 0.02  # the recorder's step

    def __post_init__(self):
        if self.gripper_open == self.gripper_close:
            raise ValueError(f"layout {self.name}: gripper_open == gripper_close == {self.gripper_open}")

    def normalised(self, joints: np.ndarray) -> np.ndarray:
        """(T, 14) from the file's units to ours (grippers 0..1)."""
        out = np.array(joints, dtype=np.float32)
        cols = list(GRIPPER_COLUMNS)
        out[:, cols] = (out[:, cols] - self.gripper_close) / (self.gripper_open - self.gripper_close)
        return out

    def in_file_units(self, joints: np.ndarray) -> np.ndarray:
        """(T, 14) from ours back to the file's units."""
        out = np.array(joints, dtype=np.float64)
        cols = list(GRIPPER_COLUMNS)
        out[:, cols] = out[:, cols] * (self.gripper_open - self.gripper_close) + self.gripper_close
        return out


LAYOUTS = {
    "aloha": Hdf5Layout("aloha"),
    "cobot_magic": Hdf5Layout("cobot_magic", gripper_close=0.0, gripper_open=0.08, base_action=True,
                              control_period_s=1 / 30),
}


def get_layout(name: str) -> Hdf5Layout:
    if name not in LAYOUTS:
        raise ValueError(f"hdf5 layout {name!r}; expected one of {sorted(LAYOUTS)}")
    return LAYOUTS[name]
