"""Named disruption scenes: the sim scene changed in one way the demos never showed (the WMPO
paper's Table 2), for testing whether a policy generalises.

- ``stock``: the scene of every demo, rollout and stock evaluation (``SceneConfig()``).
- ``wider_start``: each object starts anywhere in a range that holds the task's stock range and
  reaches well beyond it: twice as wide in y, and in x twice as wide for the cube and 1.8 times
  for the peg and socket (they must not start inside each other: 12 cm of x apart at least), so
  most starts lie outside anything a demo began from. Every start stays on the table (x +-0.61 m,
  y 0.22..0.98 m) and within 0.61 m of the arm that grasps it (bases at x +-0.469, y 0.5); the
  scripted expert grasps and lifts the objects from every corner of these ranges.
- ``table_texture``: the plain dark-grey table becomes light wood-coloured, in bands of two
  shades (a checker texture, which the table mesh shows as bands: ``robot/sim/scene.py``).
- ``object_colour``: the task's objects change colour (the red cube and the red peg turn green,
  the blue socket turns yellow); shapes, sizes and start ranges are the stock ones.
"""

from __future__ import annotations

from robot.sim.scene import SceneConfig
from robot.sim.tasks import ObjectRange, SimTask, get_task
from storage import STOCK_SCENE as STOCK
DISRUPTIONS = ("wider_start", "table_texture", "object_colour")
SCENES = (STOCK, *DISRUPTIONS)

# Written out rather than computed: the insertion objects' inner edges are bounded by each other.
WIDER_START = {
    "transfer_cube": {"box": ObjectRange(x=(-0.1, 0.3), y=(0.3, 0.7), z=0.02)},
    "insertion": {"peg": ObjectRange(x=(0.07, 0.25), y=(0.3, 0.7), z=0.01),
                  "socket": ObjectRange(x=(-0.25, -0.07), y=(0.3, 0.7), z=0.022)},
}
GREEN = (0.15, 0.65, 0.2, 1.0)
YELLOW = (0.9, 0.75, 0.1, 1.0)
# Geoms the object_colour scene repaints, per task, and their new colour.
NEW_COLOURS = {
    "transfer_cube": {"red_box": GREEN},
    "insertion": {"red_peg": GREEN, "socket-1": YELLOW, "socket-2": YELLOW, "socket-3": YELLOW, "socket-4": YELLOW},
}


def disruption_scene(task: str | SimTask, name: str) -> SceneConfig:
    """The SceneConfig of scene ``name`` (one of SCENES) for ``task``."""
    task = get_task(task) if isinstance(task, str) else task
    if name == STOCK:
        return SceneConfig()
    if name == "wider_start":
        return SceneConfig(object_ranges=WIDER_START[task.name])
    if name == "table_texture":
        return SceneConfig(table_texture="checker", table_rgb=(0.75, 0.6, 0.4), table_rgb2=(0.45, 0.3, 0.15))
    if name == "object_colour":
        return SceneConfig(object_rgba=NEW_COLOURS[task.name])
    raise ValueError(f"unknown scene {name!r}; expected one of {SCENES}")
