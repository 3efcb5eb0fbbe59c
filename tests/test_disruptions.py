"""The named disruption scenes, in the real sim at tiny sizes: each builds and renders, and each
departs from the stock scene in the way its docstring claims -- and in no other."""

import numpy as np
import pytest

import robot  # noqa: F401  (headless GL before mujoco loads)
import mujoco
from robot.experts.scripted import plan_joint_trajectory
from robot.factory import make_robot
from robot.sim.aloha_sim import SimGripper, arm_qpos14, reset_scene, step_scene
from robot.sim.disruptions import DISRUPTIONS, SCENES, disruption_scene
from robot.sim.scene import SceneConfig, build_model, sample_object_poses
from robot.sim.tasks import TASKS, get_task

SEEDS = range(1_000_000, 1_000_064)  # the first evaluation seeds
GRIPPER = SimGripper()
ARM_BASES = {"left": np.array([-0.469, 0.5]), "right": np.array([0.469, 0.5])}
GRASPED_BY = {"box": "right", "peg": "right", "socket": "left"}


def table_extent(model: mujoco.MjModel) -> tuple[np.ndarray, np.ndarray]:
    """(min, max) world x, y of the table top, from its mesh."""
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    geom = model.geom("table").id
    mesh = model.geom_dataid[geom]
    vertices = model.mesh_vert[model.mesh_vertadr[mesh]:model.mesh_vertadr[mesh] + model.mesh_vertnum[mesh]]
    world = data.geom_xpos[geom] + vertices @ data.geom_xmat[geom].reshape(3, 3).T
    return world.min(0)[:2], world.max(0)[:2]


def render(task: str, scene: SceneConfig, seed: int, size=(48, 64)) -> tuple[np.ndarray, np.ndarray]:
    """The top camera's picture at the start of ``seed`` and the geom id seen at each pixel."""
    sim_task = get_task(task)
    model = build_model(sim_task, scene)
    data = mujoco.MjData(model)
    reset_scene(model, data, sample_object_poses(sim_task, scene, seed), GRIPPER)
    with mujoco.Renderer(model, *size) as renderer:
        renderer.update_scene(data, camera="top")
        rgb = renderer.render().copy()
        renderer.enable_segmentation_rendering()
        renderer.update_scene(data, camera="top")
        segments = renderer.render()[..., 0].copy()  # geom ids (objects of type geom)
    return rgb.astype(int), segments


@pytest.mark.parametrize("task", sorted(TASKS))
@pytest.mark.parametrize("name", SCENES)
def test_every_named_scene_builds_and_renders_through_the_factory(task, name):
    with make_robot(None, task=task, cameras={"cam_high": (24, 32)}, scene=name) as sim:
        observation = sim.reset(1_000_000)
        assert observation.frames["cam_high"].shape == (24, 32, 3) and observation.frames["cam_high"].std() > 1
        sim.send_action(observation.qpos)
        assert np.isfinite(sim.observe().qpos).all()


def test_unknown_scenes_and_a_disruption_on_a_real_robot_are_refused():
    with pytest.raises(ValueError, match=r"unknown scene 'foggy'; expected one of \('stock', 'wider_start'"):
        disruption_scene("transfer_cube", "foggy")
    with pytest.raises(ValueError, match=r"unknown scene 'foggy'"):
        make_robot(None, task="transfer_cube", cameras={"cam_high": (24, 32)}, scene="foggy")
    with pytest.raises(ValueError, match=r"disruption scenes exist only in the sim; expected no --scene with --site"):
        make_robot("/lab/cobot.json", task="transfer_cube", cameras={"cam_high": (24, 32)}, scene="wider_start")
    assert disruption_scene("insertion", "stock") == SceneConfig()


@pytest.mark.parametrize("task", sorted(TASKS))
def test_wider_start_reaches_beyond_the_stock_range_on_the_table_and_within_reach(task):
    sim_task = get_task(task)
    wider = disruption_scene(task, "wider_start")
    low, high = table_extent(build_model(sim_task, SceneConfig()))
    for obj, stock in sim_task.ranges.items():
        widened = wider.ranges_for(sim_task)[obj]
        for axis in ("x", "y"):
            (a, b), (c, d) = getattr(stock, axis), getattr(widened, axis)
            assert c <= a and b <= d and (d - c) >= 1.8 * (b - a) - 1e-9, (obj, axis)
    poses = np.array([sample_object_poses(sim_task, wider, seed) for seed in SEEDS]).reshape(len(SEEDS), -1, 7)
    stock_poses = np.array([sample_object_poses(sim_task, SceneConfig(), seed) for seed in SEEDS])
    outside = 0
    for i, obj in enumerate(sim_task.objects):
        r = sim_task.ranges[obj]
        xy = poses[:, i, :2]
        out = ((xy[:, 0] < r.x[0]) | (xy[:, 0] > r.x[1]) | (xy[:, 1] < r.y[0]) | (xy[:, 1] > r.y[1]))
        outside += out.sum()
        assert (xy > low + 0.05).all() and (xy < high - 0.05).all()  # on the table, off its edges
        reach = np.linalg.norm(xy - ARM_BASES[GRASPED_BY[obj]], axis=1)
        assert reach.max() < 0.62, (obj, reach.max())
    assert outside >= len(SEEDS) // 2  # most starts lie outside the demos' range
    assert not np.allclose(poses.reshape(len(SEEDS), -1), stock_poses)
    if task == "insertion":  # peg and socket (each 12 cm long in x) never start inside each other
        assert (poses[:, 0, 0] - poses[:, 1, 0]).min() >= 0.12


@pytest.mark.parametrize("task", sorted(TASKS))
def test_wider_start_extremes_rest_still_on_the_table(task):
    """The range's corners are real starts: objects placed there settle where they were put."""
    sim_task = get_task(task)
    scene = disruption_scene(task, "wider_start")
    model = build_model(sim_task, scene)
    data = mujoco.MjData(model)
    ranges = scene.ranges_for(sim_task)
    for corner in range(4):
        poses = np.concatenate([[ranges[obj].x[corner % 2], ranges[obj].y[corner // 2], ranges[obj].z, 1, 0, 0, 0]
                                for obj in sim_task.objects])
        reset_scene(model, data, poses, GRIPPER)
        hold = arm_qpos14(data.qpos, GRIPPER)
        for _ in range(25):
            step_scene(model, data, hold, GRIPPER, 10)
        moved = np.abs(data.qpos[16:].reshape(-1, 7)[:, :3] - poses.reshape(-1, 7)[:, :3]).max()
        assert moved < 0.01, (corner, moved)


@pytest.mark.parametrize("task", sorted(TASKS))
def test_table_texture_changes_the_table_pixels_and_nothing_else(task):
    stock, stock_ids = render(task, SceneConfig(), 1_000_000)
    textured, ids = render(task, disruption_scene(task, "table_texture"), 1_000_000)
    assert (ids == stock_ids).all()  # the same geometry in view
    table = ids == build_model(get_task(task), SceneConfig()).geom("table").id
    assert table.mean() > 0.3
    difference = np.abs(textured - stock).sum(-1)
    assert (difference[table] > 60).mean() > 0.9  # nearly every table pixel changed colour
    assert len(np.unique(textured[table], axis=0)) > 4  # a pattern, not one flat colour
    assert difference[~table & (ids >= 0)].mean() < 15  # the arms and objects look as before


@pytest.mark.parametrize("task", sorted(TASKS))
def test_object_colour_repaints_the_objects_in_their_stock_places(task):
    sim_task = get_task(task)
    stock, stock_ids = render(task, SceneConfig(), 1_000_000)
    painted, ids = render(task, disruption_scene(task, "object_colour"), 1_000_000)
    assert (ids == stock_ids).all()  # same starts, same shapes
    model = build_model(sim_task, SceneConfig())
    repainted = disruption_scene(task, "object_colour").object_rgba
    for geom, rgba in repainted.items():
        pixels = ids == model.geom(geom).id
        if not pixels.any():  # a socket wall hidden behind another
            continue
        before, after = stock[pixels].mean(0), painted[pixels].mean(0)
        assert np.argmax(after) == np.argmax(rgba[:3]), (geom, before, after)  # now green / yellow
        assert np.argmax(before) != np.argmax(after), (geom, before, after)  # and was not before
    main_object = ids == model.geom(sim_task.object_geoms[0]).id
    assert main_object.sum() > 0
    assert stock[main_object].mean(0)[0] > 2 * stock[main_object].mean(0)[1]  # red before
    assert painted[main_object].mean(0)[1] > 2 * painted[main_object].mean(0)[0]  # green after
    assert np.abs(painted - stock).sum(-1)[~np.isin(ids, [model.geom(g).id for g in repainted])].mean() < 5


def test_named_scenes_cover_every_task():
    for task in TASKS:
        for name in DISRUPTIONS:
            assert disruption_scene(task, name) != SceneConfig(), (task, name)


@pytest.mark.parametrize("task", sorted(TASKS))
def test_wider_start_corners_are_within_the_arms_reach(task):
    """The scripted expert, planning from the objects' true poses, grasps and lifts them from each
    corner of the widened ranges (stage 2: lifted; both objects held, for insertion)."""
    sim_task = get_task(task)
    scene = disruption_scene(task, "wider_start")
    ranges = scene.ranges_for(sim_task)
    for corner in range(4):
        poses = np.concatenate([[ranges[obj].x[corner % 2], ranges[obj].y[corner // 2], ranges[obj].z, 1, 0, 0, 0]
                                for obj in sim_task.objects])
        _, best_stage = plan_joint_trajectory(task, poses, scene)
        assert best_stage >= 2, (corner, best_stage)
