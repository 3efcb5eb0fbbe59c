"""The two ALOHA sim tasks: scene files, objects, where objects start, and task stages.

Stages follow the ACT / gym-aloha reward: 0..4 from contacts, success = the final stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

Contacts = set[frozenset]  # pairs of geom names in contact


@dataclass(frozen=True)
class ObjectRange:
    """Uniform range of an object's start position on the table (metres, world frame)."""

    x: tuple[float, float]
    y: tuple[float, float]
    z: float  # resting height of the object's centre on the table: starts are still

    def __post_init__(self):
        for name, (low, high) in (("x", self.x), ("y", self.y)):
            if low > high:
                raise ValueError(f"object range {name}: low {low} > high {high}")


def _touching(contacts: Contacts, a: str, b: str) -> bool:
    return frozenset((a, b)) in contacts


LEFT_FINGER = "vx300s_left/10_left_gripper_finger"
RIGHT_FINGER = "vx300s_right/10_right_gripper_finger"
SOCKET_WALLS = ("socket-1", "socket-2", "socket-3", "socket-4")


def transfer_cube_stage(contacts: Contacts) -> int:
    right = _touching(contacts, "red_box", RIGHT_FINGER)
    left = _touching(contacts, "red_box", LEFT_FINGER)
    on_table = _touching(contacts, "red_box", "table")
    if left and not on_table:
        return 4  # handed over: held by the left gripper, off the table
    if left:
        return 3
    if right and not on_table:
        return 2  # lifted
    return 1 if right else 0


def insertion_stage(contacts: Contacts) -> int:
    if _touching(contacts, "red_peg", "pin"):
        return 4  # the peg reached the pin inside the socket
    right = _touching(contacts, "red_peg", RIGHT_FINGER)
    left = any(_touching(contacts, wall, LEFT_FINGER) for wall in SOCKET_WALLS)
    peg_on_table = _touching(contacts, "red_peg", "table")
    socket_on_table = any(_touching(contacts, wall, "table") for wall in SOCKET_WALLS)
    in_socket = any(_touching(contacts, "red_peg", wall) for wall in SOCKET_WALLS)
    if in_socket and not peg_on_table and not socket_on_table:
        return 3
    if left and right and not peg_on_table and not socket_on_table:
        return 2
    return 1 if left and right else 0


@dataclass(frozen=True)
class SimTask:
    name: str
    instruction: str
    joint_scene: str  # gym-aloha asset, joint-position actuators
    mocap_scene: str  # gym-aloha asset, grippers welded to mocap bodies (for planning experts)
    objects: tuple[str, ...]  # free-joint bodies, in qpos order after the 16 arm joints
    object_geoms: tuple[str, ...]  # geoms whose colour a scene variation may change
    ranges: dict[str, ObjectRange]
    stage: Callable[[Contacts], int]
    horizon: int = 400
    final_stage: int = 4


TASKS = {
    "transfer_cube": SimTask(
        name="transfer_cube",
        instruction="pick up the red cube with the right arm and hand it to the left arm",
        joint_scene="bimanual_viperx_transfer_cube.xml",
        mocap_scene="bimanual_viperx_end_effector_transfer_cube.xml",
        objects=("box",),
        object_geoms=("red_box",),
        ranges={"box": ObjectRange(x=(0.0, 0.2), y=(0.4, 0.6), z=0.02)},
        stage=transfer_cube_stage,
    ),
    "insertion": SimTask(
        name="insertion",
        instruction="pick up the red peg and the blue socket and insert the peg into the socket",
        joint_scene="bimanual_viperx_insertion.xml",
        mocap_scene="bimanual_viperx_end_effector_insertion.xml",
        objects=("peg", "socket"),
        object_geoms=("red_peg", "socket-1", "socket-2", "socket-3", "socket-4", "pin"),
        ranges={"peg": ObjectRange(x=(0.1, 0.2), y=(0.4, 0.6), z=0.01),
                "socket": ObjectRange(x=(-0.2, -0.1), y=(0.4, 0.6), z=0.022)},
        stage=insertion_stage,
    ),
}


def get_task(name: str) -> SimTask:
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown sim task {name!r}; expected one of {sorted(TASKS)}") from None
