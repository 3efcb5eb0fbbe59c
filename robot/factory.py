"""One way to make a robot: the MuJoCo sim, or the real robot a site file describes.

Every command, the cycle and the UI ask ``make_robot`` for their robot and drive what it returns
through the same ``Robot`` shape. ``site=None`` is the sim; a site file's ``robot`` field picks the
Interbotix ALOHA or the Cobot Magic backend (``robot.sites``).

What differs between the two, and is decided here so callers need not know which they have:
- the initial state: the sim rebuilds the scene from a seed; a real robot cannot be put into a
  seeded scene -- its arms move to the start pose and the *operator* resets the objects
  (``scene_ready`` is called then, e.g. a prompt). The seed is still recorded with the episode, as
  an episode index: it numbers the episode, it does not describe its scene;
- the horizon: tasks state it in sim control steps (50 Hz); a robot with another control rate
  gets the same duration in its own steps;
- camera sizes: the Cobot Magic resizes its frames to what the policy asks for; the Interbotix
  backend streams at the site's size, which must then already be the policy's;
- views (``cam_high_task``): the sim renders them; a real robot cuts them from its camera's
  picture at the size it streams, then resizes (``Robot.cut_views``);
- the scene: the sim can run a named disruption of its stock scene (``robot.sim.disruptions``);
  a real robot's scene is whatever the operator set up, so asking it for a disruption is refused.
"""

from __future__ import annotations

import threading
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, ContextManager

from robot.camera_views import view_of
from robot.cobot_magic.site import CobotCamera
from robot.robot import Robot
from robot.sites import load_robot_site, open_robot
from storage import STOCK_SCENE

SIM_CONTROL_PERIOD_S = 0.02  # the period task horizons are counted in


@dataclass(frozen=True)
class Operator:
    """The person at a real robot, as the code asks them things; both None on an unattended robot
    (a scheduled or background run) and never called in the sim, which sets and judges its scenes."""

    scene_ready: Callable[[], None] | None = None  # at every reset: see make_robot
    label: Callable[[int], bool | None] | None = None  # the verdict on a recorded episode (its id), or None
    # The operator's stop key, watched during each episode: a context manager yielding the Event the
    # key sets (e.g. app.stop_key.StopKey); None: no key.
    stop_key: Callable[[], ContextManager[threading.Event]] | None = None

    def watching_stop(self) -> ContextManager[threading.Event | None]:
        """Around an episode: the stop key's Event (set when pressed), or None without a key."""
        return self.stop_key() if self.stop_key is not None else nullcontext(None)


@dataclass(frozen=True)
class RobotChoice:
    """Which robot a command drives, as the commands pass it on: ``site`` None is the sim."""

    site: str | None = None
    operator: Operator = Operator()
    scene: str = STOCK_SCENE  # the sim's scene: "stock" or a named disruption (robot.sim.disruptions)

    def __post_init__(self):
        check_scene(self.site, self.scene)

    def make(self, task: str, cameras: dict[str, tuple[int, int]]) -> Robot:
        return make_robot(self.site, task=task, cameras=cameras, scene_ready=self.operator.scene_ready,
                          scene=self.scene)


def check_scene(site: str | Path | None, scene: str) -> None:
    """A clear error for a disruption asked of a real robot, or a scene the sim does not know."""
    if scene == STOCK_SCENE:
        return
    if site is not None:
        raise ValueError(f"scene {scene!r} on the real robot of site {site}: disruption scenes exist only in "
                         f"the sim; expected no --scene with --site (the operator sets a real robot's scene)")
    from robot.sim.disruptions import SCENES

    if scene not in SCENES:
        raise ValueError(f"unknown scene {scene!r}; expected one of {SCENES}")


def make_robot(site: str | Path | None, *, task: str, cameras: dict[str, tuple[int, int]],
               scene_ready: Callable[[], None] | None = None, scene: str = STOCK_SCENE) -> Robot:
    """The robot (not yet connected) with exactly ``cameras`` (name -> (height, width)).

    ``site``: None for the sim, else a site file. ``scene_ready``: on a real robot, called at every
    reset once the arms are at the start pose, before the episode's first observation (the operator
    resets the scene); None starts at once (an unattended robot, or a scene that needs no reset).
    ``scene``: the sim's scene (``robot.sim.disruptions.SCENES``); a real robot takes "stock" only."""
    check_scene(site, scene)
    if site is None:
        from robot.sim.aloha_sim import AlohaSim, SimConfig
        from robot.sim.disruptions import disruption_scene

        return AlohaSim(SimConfig(task=task, cameras=cameras, scene=disruption_scene(task, scene)))
    views = {name: (view_of(name), tuple(size)) for name, size in cameras.items() if view_of(name) is not None}
    plain = {name: size for name, size in cameras.items() if name not in views}
    # a view's camera at the size the site streams it (None), unless the policy asks for it too
    sources = {view.camera: None for view, _ in views.values() if view.camera not in plain}
    robot = open_robot(with_cameras(load_robot_site(site), {**plain, **sources}))
    if views:
        robot.cut_views(views, keep=set(plain))
    robot.scene_ready = scene_ready
    return robot


def with_cameras(site, cameras: dict[str, tuple[int, int] | None]):
    """The site with only ``cameras``, each at the size asked for (None: as the site streams it); a
    clear error for one it lacks or (Interbotix: no resizing) streams at another size."""
    have = {camera.name: camera for camera in site.cameras}
    missing = sorted(set(cameras) - set(have))
    if missing:
        raise ValueError(f"site {site.name!r} has no camera {missing}; expected one of {sorted(have)} "
                         f"(add it to the site file's cameras)")
    chosen = []
    for name, size in cameras.items():
        camera = have[name]
        if size is None:
            chosen.append(camera)
            continue
        height, width = size
        if isinstance(camera, CobotCamera):  # resized from the topic's size to any size
            camera = replace(camera, height=height, width=width)
        elif (camera.height, camera.width) != (height, width):
            raise ValueError(f"site {site.name!r}: camera {name} streams {camera.height}x{camera.width}, the policy "
                             f"expects {height}x{width}; expected the site's camera height/width to match it")
        chosen.append(camera)
    return replace(site, cameras=tuple(chosen))


def initial_state(robot: Robot, seed: int):
    """What ``reset`` takes to start the episode numbered ``seed``: the seed itself in the sim, None
    on a real robot (it starts where the operator has set the scene)."""
    return seed if robot_kind(robot) == "sim" else None


def robot_kind(robot: Robot) -> str:
    """The store's robot_kind for episodes recorded on ``robot``: "sim" or "real"."""
    from robot.sim.aloha_sim import AlohaSim

    return "sim" if isinstance(robot, AlohaSim) else "real"


def horizon_steps(task_horizon: int, robot: Robot) -> int:
    """The task's horizon (sim steps at 50 Hz) as the same duration in ``robot``'s control steps."""
    return max(1, round(task_horizon * SIM_CONTROL_PERIOD_S / robot.features.control_period_s))
