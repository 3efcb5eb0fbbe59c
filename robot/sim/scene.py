"""Building the MuJoCo model of a task, with the scene variations of the paper's Table 2.

The ALOHA scene files come from the gym-aloha package (found without importing it: its
__init__ pulls in gymnasium). Variations -- object start ranges, table and background
texture, object colours -- are configuration applied through MjSpec, never edits of the
shipped files. Rendering is made cheap here: no shadows, no multisampling.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import mujoco
import numpy as np

from robot.sim.tasks import ObjectRange, SimTask

TEXTURES = ("plain", "checker", "gradient")


def gym_aloha_assets() -> Path:
    spec = importlib.util.find_spec("gym_aloha")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the gym-aloha package (ALOHA scene assets) is not installed; run ./run.sh")
    assets = Path(spec.submodule_search_locations[0]) / "assets"
    if not assets.is_dir():
        raise RuntimeError(f"gym-aloha is installed but has no assets folder at {assets}")
    return assets


@dataclass(frozen=True)
class SceneConfig:
    """Scene variations. Defaults reproduce the stock ALOHA sim scene."""

    object_ranges: dict[str, ObjectRange] = field(default_factory=dict)  # overrides per object
    table_texture: str = "plain"  # plain | checker | gradient
    table_rgb: tuple[float, float, float] = (0.2, 0.2, 0.2)
    table_rgb2: tuple[float, float, float] = (0.45, 0.35, 0.25)  # second colour of a texture
    background_rgb: tuple[float, float, float] | None = None  # None: MuJoCo's default backdrop
    object_rgba: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)  # geom -> rgba

    def __post_init__(self):
        if self.table_texture not in TEXTURES:
            raise ValueError(f"table_texture {self.table_texture!r}; expected one of {TEXTURES}")
        for name, value in (("table_rgb", self.table_rgb), ("table_rgb2", self.table_rgb2),
                            ("background_rgb", self.background_rgb or (0, 0, 0))):
            if len(value) != 3 or not all(0.0 <= c <= 1.0 for c in value):
                raise ValueError(f"{name} {value}; expected three values in [0, 1]")

    def ranges_for(self, task: SimTask) -> dict[str, ObjectRange]:
        unknown = set(self.object_ranges) - set(task.ranges)
        if unknown:
            raise ValueError(f"object_ranges for {sorted(unknown)}: task {task.name} has objects {task.objects}")
        return {**task.ranges, **self.object_ranges}


def build_model(task: SimTask, scene: SceneConfig, *, mocap: bool = False,
                max_render_size: tuple[int, int] = (480, 640)) -> mujoco.MjModel:
    spec = mujoco.MjSpec.from_file(str(gym_aloha_assets() / (task.mocap_scene if mocap else task.joint_scene)))
    geoms = {g.name: g for g in spec.geoms}
    unknown = set(scene.object_rgba) - set(task.object_geoms)
    if unknown:
        raise ValueError(f"object_rgba for {sorted(unknown)}: task {task.name} has geoms {task.object_geoms}")
    for name, rgba in scene.object_rgba.items():
        geoms[name].rgba = list(rgba)
    table = geoms["table"]
    if scene.table_texture == "plain":
        table.rgba = [*scene.table_rgb, 1.0]
    else:
        builtin = (mujoco.mjtBuiltin.mjBUILTIN_CHECKER if scene.table_texture == "checker"
                   else mujoco.mjtBuiltin.mjBUILTIN_GRADIENT)
        spec.add_texture(name="table_texture", type=mujoco.mjtTexture.mjTEXTURE_2D, builtin=builtin,
                         rgb1=list(scene.table_rgb), rgb2=list(scene.table_rgb2), width=128, height=128)
        material = spec.add_material(name="table_material")
        material.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = "table_texture"
        material.texrepeat = [6, 6]
        # The table mesh has no texture coordinates: without texuniform MuJoCo draws the texture's
        # mean colour, flat. With it the pattern shows, as bands across the table (one texture axis).
        material.texuniform = True
        table.material = "table_material"
        table.rgba = [1.0, 1.0, 1.0, 1.0]
    if scene.background_rgb is not None:
        spec.add_texture(name="background", type=mujoco.mjtTexture.mjTEXTURE_SKYBOX,
                         builtin=mujoco.mjtBuiltin.mjBUILTIN_GRADIENT, rgb1=list(scene.background_rgb),
                         rgb2=[c * 0.3 for c in scene.background_rgb], width=64, height=64)
    model = spec.compile()
    # Fast rendering: no shadow maps, no multisampling; big enough offscreen buffer.
    model.vis.quality.shadowsize = 0
    model.vis.quality.offsamples = 0
    model.light_castshadow[:] = 0
    model.vis.global_.offheight = max(model.vis.global_.offheight, max_render_size[0])
    model.vis.global_.offwidth = max(model.vis.global_.offwidth, max_render_size[1])
    return model


def sample_object_poses(task: SimTask, scene: SceneConfig, seed: int) -> np.ndarray:
    """Start poses (x, y, z, qw, qx, qy, qz per object) drawn from the seed alone."""
    rng = np.random.default_rng(seed)
    ranges = scene.ranges_for(task)
    poses = []
    for obj in task.objects:
        r = ranges[obj]
        poses += [rng.uniform(*r.x), rng.uniform(*r.y), r.z, 1.0, 0.0, 0.0, 0.0]
    return np.asarray(poses)
