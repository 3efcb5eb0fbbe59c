"""AlohaSim: the MuJoCo ALOHA (two vx300s arms) behind the Robot interface.

Joint-position control at 50 Hz (10 physics steps of 2 ms per command). Only the cameras
asked for are rendered, at the size asked for. ``reset(seed)`` draws object poses from the
seed alone, so the same seed gives the same scene and the same first frame -- GRPO groups
and evaluations need identical starts.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import mujoco
import numpy as np

from robot.camera_views import VIEWS, CameraView, view_of
from robot.features import RobotFeatures, start_pose
from robot.robot import Observation, Robot, RobotError
from robot.safety import SafetyFilter
from robot.sim.scene import SceneConfig, build_model, sample_object_poses
from robot.sim.tasks import get_task

# Sim camera for each ALOHA camera name, so sim and real episodes share names.
SIM_CAMERAS = {"cam_high": "top", "cam_low": "angle", "cam_left_wrist": "left_wrist",
               "cam_right_wrist": "right_wrist"}
# Every picture the sim can give: its cameras, and views cropped from them (robot/camera_views.py).
SIM_PICTURES = sorted([*SIM_CAMERAS, *(name for name, view in VIEWS.items() if view.camera in SIM_CAMERAS)])


def render_plan(name: str, size: tuple[int, int]) -> tuple[str, tuple[int, int], CameraView | None]:
    """What to render for picture ``name`` at ``size``: the sim camera, the size to render it at,
    and the view to crop from it (None: the camera itself)."""
    view = view_of(name)
    if view is None:
        return SIM_CAMERAS[name], tuple(size), None
    return SIM_CAMERAS[view.camera], view.source_size(size), view


@dataclass(frozen=True)
class SimGripper:
    """Finger position (m) of a fully open / closed follower gripper in the sim (ACT's values)."""

    open_m: float = 0.05800
    close_m: float = 0.01844

    def normalise(self, position_m):
        return (position_m - self.close_m) / (self.open_m - self.close_m)

    def position(self, normalised):
        return normalised * (self.open_m - self.close_m) + self.close_m


@dataclass(frozen=True)
class SimConfig:
    task: str = "transfer_cube"
    cameras: dict[str, tuple[int, int]] = field(default_factory=lambda: {"cam_high": (96, 128)})
    scene: SceneConfig = field(default_factory=SceneConfig)
    gripper: SimGripper = field(default_factory=SimGripper)
    control_period_s: float = 0.02
    realtime: bool = False  # True: steps are paced to the wall clock like a real robot

    def __post_init__(self):
        get_task(self.task)
        unknown = set(self.cameras) - set(SIM_PICTURES)
        if unknown:
            raise ValueError(f"cameras {sorted(unknown)} do not exist in the sim; expected {SIM_PICTURES}")
        for name, size in self.cameras.items():
            if len(size) != 2 or min(size) < 8 or max(size) > 2048:
                raise ValueError(f"camera {name}: size {size}; expected (height, width) between 8 and 2048")


def arm_actuators(vector14: np.ndarray, gripper: SimGripper) -> np.ndarray:
    """14-D (grippers normalised) -> the 16 arm joints / actuators (two fingers per gripper)."""
    left, right = gripper.position(vector14[6]), gripper.position(vector14[13])
    return np.array([*vector14[0:6], left, -left, *vector14[7:13], right, -right])


def arm_qpos14(qpos: np.ndarray, gripper: SimGripper) -> np.ndarray:
    return np.array([*qpos[0:6], gripper.normalise(qpos[6]), *qpos[8:14], gripper.normalise(qpos[14])])


def reset_scene(model: mujoco.MjModel, data: mujoco.MjData, object_poses: np.ndarray,
                gripper: SimGripper) -> None:
    """Arms at the start pose with goals there too, objects at ``object_poses``."""
    mujoco.mj_resetData(model, data)
    arms = arm_actuators(start_pose(gripper=gripper.normalise(0.02239)), gripper)
    data.qpos[:16] = arms
    data.ctrl[:16] = arms
    data.qpos[16:16 + len(object_poses)] = object_poses
    mujoco.mj_forward(model, data)


def step_scene(model: mujoco.MjModel, data: mujoco.MjData, command14: np.ndarray,
               gripper: SimGripper, substeps: int) -> None:
    data.ctrl[:16] = arm_actuators(command14, gripper)
    mujoco.mj_step(model, data, nstep=substeps)


def contacts(data: mujoco.MjData, geom_names: list[str]) -> set[frozenset]:
    """The pairs of geom names in contact now."""
    return {frozenset((geom_names[a], geom_names[b])) for a, b in data.contact.geom[: data.ncon]}


def physics_steps_per_control(model: mujoco.MjModel, control_period_s: float) -> int:
    steps = control_period_s / model.opt.timestep
    if abs(steps - round(steps)) > 1e-6:
        raise RobotError(f"control period {control_period_s}s is not a multiple of the physics step "
                         f"{model.opt.timestep}s")
    return round(steps)


@dataclass(frozen=True)
class SimState:
    """A saved sim state (``AlohaSim.save_state``)."""

    data: mujoco.MjData
    holding: np.ndarray  # the command in force
    seed: int | None


class AlohaSim(Robot):
    def __init__(self, config: SimConfig | None = None, safety: SafetyFilter | None = None):
        super().__init__(safety)
        self.config = config or SimConfig()
        self.task = get_task(self.config.task)
        self.features = RobotFeatures(
            cameras={name: (h, w, 3) for name, (h, w) in self.config.cameras.items()},
            control_period_s=self.config.control_period_s, realtime=self.config.realtime)

    # -- lifecycle -----------------------------------------------------------------------------

    def _connect(self) -> None:
        sizes = [render_plan(name, size)[1] for name, size in self.config.cameras.items()]
        largest = (max(h for h, _ in sizes), max(w for _, w in sizes)) if sizes else (8, 8)
        self.model = build_model(self.task, self.config.scene, max_render_size=largest)
        self.data = mujoco.MjData(self.model)
        self.substeps = physics_steps_per_control(self.model, self.config.control_period_s)
        self._geom_names = [self.model.geom(i).name for i in range(self.model.ngeom)]
        try:
            self._renderers = {size: mujoco.Renderer(self.model, *size) for size in set(sizes)}
        except Exception as exc:  # MuJoCo reports a missing GL stack in many ways
            backend = os.environ.get("MUJOCO_GL", "(unset)")
            raise RobotError(
                f"cannot render the sim's cameras: no offscreen OpenGL context with MUJOCO_GL={backend} "
                f"({exc}). Install libegl1 libgl1-mesa-dri (./run.sh does), or set MUJOCO_GL=osmesa "
                f"with libosmesa6, before anything imports mujoco.") from exc
        for renderer in self._renderers.values():
            for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION):
                renderer.scene.flags[flag] = 0

    def _disconnect(self) -> None:
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers = {}

    # -- control -------------------------------------------------------------------------------

    def _reset(self, initial_state) -> Observation:
        """``initial_state``: a seed (int), or object poses (7 numbers per object)."""
        if initial_state is None:
            initial_state = 0
        if isinstance(initial_state, (int, np.integer)):
            seed, poses = int(initial_state), sample_object_poses(self.task, self.config.scene, int(initial_state))
        else:
            seed, poses = None, np.asarray(initial_state, dtype=np.float64)
            expected = 7 * len(self.task.objects)
            if poses.shape != (expected,) or not np.isfinite(poses).all():
                raise ValueError(f"initial object poses: got shape {poses.shape}, expected ({expected},) finite "
                                 f"(x, y, z, qw, qx, qy, qz for {', '.join(self.task.objects)})")
        reset_scene(self.model, self.data, poses, self.config.gripper)
        self._seed = seed
        return self._observe()

    def _command(self, command: np.ndarray) -> None:
        start = time.perf_counter()
        step_scene(self.model, self.data, command, self.config.gripper, self.substeps)
        self.device_s += time.perf_counter() - start

    def _observe(self) -> Observation:
        start = time.perf_counter()
        frames = {}
        for name, size in self.config.cameras.items():
            camera, render_size, view = render_plan(name, size)
            renderer = self._renderers[render_size]
            renderer.update_scene(self.data, camera=camera)
            frames[name] = renderer.render() if view is None else view.crop(renderer.render(), size)
        self.device_s += time.perf_counter() - start
        stage = self.stage()
        return Observation(
            qpos=arm_qpos14(self.data.qpos, self.config.gripper), frames=frames, success=stage == self.task.final_stage,
            env_state=self.data.qpos[16:].copy(), info={"stage": stage, "seed": self._seed})

    # -- sim specifics -------------------------------------------------------------------------

    def save_state(self) -> SimState:
        """Where the sim is now, to continue from again (``restore_state``): several
        continuations of one mid-episode state without replaying the episode for each."""
        self._require_connected()
        data = mujoco.MjData(self.model)
        mujoco.mj_copyData(data, self.model, self.data)
        return SimState(data, self._holding.copy(), self._seed)

    def restore_state(self, state: SimState) -> Observation:
        """Back to a saved state (the physics to the last bit, and the command in force)."""
        self._require_connected()
        if not isinstance(state, SimState):
            raise TypeError(f"restore_state takes what save_state returned, not a {type(state).__name__}")
        mujoco.mj_copyData(self.data, self.model, state.data)
        self._holding, self._seed = state.holding.copy(), state.seed
        return self.observe()

    def stage(self) -> int:
        """The task stage (0..4) from the present contacts."""
        return self.task.stage(contacts(self.data, self._geom_names))
