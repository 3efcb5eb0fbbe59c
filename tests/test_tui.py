"""The operator UI, driven through Textual's Pilot on real stores: each pane's main path, and
the newcomer's path (demos -> base policy -> one tiny lifelong iteration -> success per
iteration) from the UI alone."""

import asyncio
import json
import os
import pty
import select
import subprocess
import time
from dataclasses import asdict

import pytest
from textual.widgets import Button, DataTable, Input, Label, Select, Static

from app.tui.app import WmpoApp
from learning.artifacts import register_reward_model, register_world_model, reward_model_dir, world_model_dir
from app.tui.confirm import ConfirmScreen
from robot.cobot_magic.site import SITES_DIR, load_cobot_site
from conftest import copy_store
from episode_data import write_episode
from test_cli import WMPO_APP
from test_model_registry import fake_checkpoint

from storage import EpisodeFilter, TrajectoryStore

SIZE = (170, 50)


async def wait_until(pilot, condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s:.0f} s waiting for {what}"
        await pilot.pause(0.2)


def cell_texts(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def test_collect_records_demos_with_operator_label_discard_and_stop(tmp_path):
    db = tmp_path / "wmpo.db"

    async def drive():
        app = WmpoApp(db)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("2")
            app.query_one("#collect-n", Input).value = "2"
            app.query_one("#collect-start", Button).press()
            await pilot.pause()  # the Pressed message is handled
            pane = app.query_one("#collect-pane")
            await wait_until(pilot, lambda: pane.session.status.finished, 120, "two expert demos")
            live = str(app.query_one("#collect-live", Static).render())
            assert "episode 2/2" in live and "Hz" in live and "safety interventions" in live
            await pilot.press("f")  # the operator overrides the sim's label of the last episode
            await pilot.pause()
            with TrajectoryStore(db) as store:
                episodes = store.episodes(EpisodeFilter(source="expert"))
                assert [(e.seed, e.success, e.label_source) for e in episodes] == [
                    (0, True, "env"), (1, False, "operator")]
            await pilot.press("d")  # between sessions: discard the last one and record its seed again
            await wait_until(pilot, lambda: pane.session.status.finished, 120, "the re-recorded demo")
            with TrajectoryStore(db) as store:
                episodes = store.episodes(EpisodeFilter(source="expert"))
                # a new recording of seed 1, labelled by the sim: the discarded one (and its label) is gone
                assert [(e.seed, e.success, e.label_source) for e in episodes] == [(0, True, "env"), (1, True, "env")]
            app.query_one("#collect-n", Input).value = "3"
            start = app.query_one("#collect-start", Button)
            # the session says finished before its worker re-enables Start, and a disabled button ignores a
            # press: wait for Start as an operator would (under load, pressing at once was lost in CI)
            await wait_until(pilot, lambda: not start.disabled, 30, "Start enabled again")
            start.press()
            await pilot.pause()  # the Pressed message is handled
            await wait_until(pilot, lambda: pane.session.status.seed == 2 and pane.session.status.step > 20, 120,
                             "a running episode of the new session (seed 2)")
            await pilot.press("x")  # stop: hold position, keep the episode unlabelled, end the session
            await wait_until(pilot, lambda: pane.session.status.finished, 60, "the stop")
            with TrajectoryStore(db) as store:
                stopped = store.episodes(EpisodeFilter(source="expert"))[-1]
                assert stopped.seed == 2 and stopped.success is None and stopped.length < 200
                assert len(store.episodes(EpisodeFilter(source="expert"))) == 3

    asyncio.run(drive())


def test_newcomer_path_demos_base_policy_tiny_iteration_and_success_chart(tmp_path):
    db = tmp_path / "wmpo.db"

    async def drive():
        app = WmpoApp(db, refresh_s=0.5)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("3")
            cycle = app.query_one("#cycle-pane")
            app.query_one("#base-steps", Input).value = "10"
            app.query_one("#base-demos", Input).value = "3"
            app.query_one("#base-train", Button).press()
            await pilot.pause()  # the Pressed message is handled
            await wait_until(pilot, lambda: cycle.command is not None and cycle.command.returncode is not None,
                             240, "the base policy's training")
            assert cycle.command.returncode == 0
            await wait_until(pilot, lambda: cycle.policy_names == ["base"], 10, "the new version in the form")
            app.query_one("#cycle-policy", Select).value = "base"
            app.query_one("#cycle-start", Button).press()
            await pilot.pause()  # the Pressed message is handled
            await wait_until(pilot, lambda: cycle.command.args[0] == "cycle" and cycle.command.returncode is not None,
                             400, "one tiny lifelong iteration")
            assert cycle.command.returncode == 0
            cycle.refresh_view()
            stages = cell_texts(app.query_one("#cycle-stages", DataTable))
            assert [row[:2] for row in stages] == [[s, "done"] for s in
                                                   ("collect", "align", "reward", "fidelity", "grpo", "evaluate",
                                                    "deploy")]
            assert "final loss" in stages[1][3] and "final loss" in stages[2][3]  # align, reward
            await pilot.press("4")
            await pilot.pause()
            rows = cell_texts(app.query_one("#iterations-table", DataTable))
            assert len(rows) == 1 and rows[0][:4] == ["1", "transfer_cube", "4", "done"]
            await pilot.press("1")
            await pilot.pause(1.0)
            chart = str(app.query_one("#success-chart", Static).render())
            if "no new policy" in rows[0][-1]:  # GRPO found no learning signal: nothing to evaluate
                assert "no evaluated iteration yet" in chart
            else:
                assert "it   1" in chart and rows[0][4] != "-"

    asyncio.run(drive())


def test_iterations_drill_down_and_episode_relabel_and_delete(tiny_base_store, tmp_path):
    db = copy_store(tiny_base_store, tmp_path)
    with TrajectoryStore(db) as store:
        iteration = store.start_iteration("transfer_cube", 2)
        ids = [write_episode(store, seed, 5, success=success, source="policy", iteration_id=iteration.id)
               for seed, success in ((100, True), (101, False))]
        store.finish_iteration(iteration.id)

    async def drive():
        app = WmpoApp(db)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("4")
            await pilot.pause()
            table = app.query_one("#iterations-table", DataTable)
            assert cell_texts(table)[0][:4] == ["1", "transfer_cube", "2", "done"]
            table.focus()
            await pilot.press("enter")  # drill down
            await pilot.pause()
            assert app.query_one("TabbedContent").active == "episodes"
            episodes = app.query_one("#episodes-table", DataTable)
            assert sorted(int(row[0]) for row in cell_texts(episodes)) == ids
            episodes.focus()
            await pilot.pause()
            assert "frame 1/5" in str(app.query_one("#frame-caption").render())
            await pilot.press("]")
            assert "frame 2/5" in str(app.query_one("#frame-caption").render())
            first = cell_texts(episodes)[0][0]  # newest first: the failure
            await pilot.press("r")  # success -> failure -> none -> success
            await pilot.pause()
            with TrajectoryStore(db) as store:
                assert store.episode(int(first)).success is None
            await pilot.press("r")
            await pilot.pause()
            with TrajectoryStore(db) as store:
                relabelled = store.episode(int(first))
                assert (relabelled.success, relabelled.label_source) == (True, "operator")
            await pilot.press("delete")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("n")  # kept
            await pilot.pause()
            await pilot.press("delete")
            await pilot.pause()
            await pilot.press("y")
            await pilot.pause()
            with TrajectoryStore(db) as store:
                remaining = [e.id for e in store.episodes(EpisodeFilter(iteration_id=1))]
            assert remaining == [e for e in ids if str(e) != first]

    asyncio.run(drive())


def test_schedule_pane_adds_toggles_and_removes_a_schedule(tmp_path):
    db = tmp_path / "wmpo.db"

    async def drive():
        app = WmpoApp(db)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("6")
            status = str(app.query_one("#scheduler-status", Static).render())
            assert "scheduler not running" in status and "scheduler --show systemd|cron" in status
            add = app.query_one("#schedule-add", Button)
            app.query_one("#schedule-at", Input).value = "25:00"
            add.press()
            await wait_until(pilot, lambda: any("HH:MM" in n.message for n in app._notifications), 10,
                             "the refusal")
            with TrajectoryStore(db) as store:
                assert store.schedules.all() == []  # refused, with a notification
            app.query_one("#schedule-at", Input).value = "02:30"
            app.query_one("#schedule-days", Input).value = "mon,wed"
            add.press()
            table = app.query_one("#schedules-table", DataTable)
            await wait_until(pilot, lambda: table.row_count == 1, 10, "the new schedule in the table")
            assert cell_texts(table)[0][:7] == ["nightly", "02:30", "mon,wed", "transfer_cube", "cpu", "1", "yes"]
            table.focus()
            await pilot.press("e")
            await pilot.pause()
            assert cell_texts(table)[0][6:] == ["no", "disabled"]
            await pilot.press("delete")
            await pilot.pause()
            await pilot.press("y")
            await pilot.pause()
            with TrajectoryStore(db) as store:
                assert store.schedules.all() == []

    asyncio.run(drive())


def test_dashboard_shows_a_running_iteration_with_stage_progress(tiny_base_store, tmp_path):
    db = copy_store(tiny_base_store, tmp_path)
    with TrajectoryStore(db) as store:
        store.deploy("transfer_cube", 1, "initial")
        iteration = store.start_iteration("transfer_cube", 4)
        job = store.jobs.create("cycle-iteration", ["collect", "align", "reward", "fidelity", "grpo", "evaluate",
                                                    "deploy"], {"cycle": {"task": "transfer_cube"}},
                                iteration_id=iteration.id)
        store.jobs.claim(job.id)
        collect = job.steps[0]
        store.jobs.start_step(collect.id)
        store.jobs.finish_step(collect.id, {"episodes": 4, "successes": 1, "policy_version_id": 1})
        store.jobs.start_step(job.steps[1].id)
        store.jobs.report_progress(job.steps[1].id, 0.5, "align 1/2 loss 0.5")

    async def drive():
        app = WmpoApp(db)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            title = str(app.query_one("#job-title").render())
            assert "iteration 1 of transfer_cube" in title and "running" in title and "ETA" in title
            assert app.query_one("#stage-collect").progress == 1.0
            assert app.query_one("#stage-align").progress == 0.5
            assert "align 1/2" in str(app.query_one("#stage-detail-align").render())
            assert "transfer_cube  base (initial)" in str(app.query_one("#deployed-status").render())

    asyncio.run(drive())


def test_models_pane_lists_policies_world_and_reward_models(tiny_base_store, tmp_path):
    db = copy_store(tiny_base_store, tmp_path)
    with TrajectoryStore(db) as store:
        base = store.policy_version(store.find_policy_version("base"))
        candidate = store.register_policy_version("transfer_cube-wmpo-1", base.checkpoint_path, parent_id=base.id)
        store.deploy("transfer_cube", base.id, "initial")
        fake_checkpoint(world_model_dir(store, "world-model") / "model", b"pretrained")
        fake_checkpoint(world_model_dir(store, "wm-transfer_cube-1") / "model", b"aligned")
        fake_checkpoint(reward_model_dir(store, "reward-transfer_cube-1"), b"reward")
        pretrained = register_world_model(store, "world-model")
        aligned = register_world_model(store, "wm-transfer_cube-1", parent="world-model")
        reward = register_reward_model(store, "reward-transfer_cube-1")

    def created(entry):
        return entry.created_at.strftime("%Y-%m-%d %H:%M")

    async def drive():
        app = WmpoApp(db)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("7")
            await pilot.pause()
            assert app.query_one("TabbedContent").active == "models"
            rows = cell_texts(app.query_one("#models-table", DataTable))
            assert [row[:2] for row in rows] == [
                ["base", "policy"], ["transfer_cube-wmpo-1", "policy"], ["world-model", "world_model"],
                ["wm-transfer_cube-1", "world_model"], ["reward-transfer_cube-1", "reward_model"]]
            assert rows[0][3:] == ["-", base.checkpoint_sha256[:12], "transfer_cube"]
            assert rows[1][3:] == ["base", candidate.checkpoint_sha256[:12], "no"]
            assert rows[2][2:] == [created(pretrained), "-", pretrained.sha256[:12], "-"]
            assert rows[3][2:] == [created(aligned), "world-model", aligned.sha256[:12], "-"]
            assert rows[4][2:] == [created(reward), "-", reward.sha256[:12], "-"]
            assert len({row[4] for row in rows[2:]}) == 3  # three checkpoints, three hashes

            with TrajectoryStore(db) as store:  # the gate deploys the candidate: shown when the pane is shown again
                store.deploy("transfer_cube", candidate.id, "gate")
            await pilot.press("1", "7")
            await pilot.pause()
            rows = cell_texts(app.query_one("#models-table", DataTable))
            assert [row[5] for row in rows[:2]] == ["no", "transfer_cube"]

    asyncio.run(drive())


def test_wmpo_app_without_a_command_opens_the_ui(tmp_path):
    """What ./run.sh starts: the UI in a real terminal, quit with q."""
    db = tmp_path / "wmpo.db"
    pid, fd = pty.fork()
    if pid == 0:  # the child: wmpo-app in a pseudo-terminal
        os.environ.update(TERM="xterm-256color", COLUMNS="160", LINES="48")
        os.execv(WMPO_APP, [WMPO_APP, "--db", str(db)])
    seen, deadline = b"", time.monotonic() + 90
    try:
        while b"Dashboard" not in seen or b"deployed" not in seen:
            assert time.monotonic() < deadline, f"no UI after 90 s; saw {seen[-500:]!r}"
            if select.select([fd], [], [], 1.0)[0]:
                seen += os.read(fd, 65536)
        os.write(fd, b"q")
        deadline = time.monotonic() + 30
        while not (ended := os.waitpid(pid, os.WNOHANG))[0]:  # keep reading: a full pty would block it
            assert time.monotonic() < deadline, "q did not quit the UI"
            if select.select([fd], [], [], 0.5)[0]:
                try:
                    os.read(fd, 65536)
                except OSError:
                    pass
        assert os.waitstatus_to_exitcode(ended[1]) == 0
    finally:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        os.close(fd)


def test_the_site_field_shows_which_robot_and_passes_it_on(tmp_path):
    """Cycle and Collect: blank is the embedded sim; a site file is named as its robot as the
    operator types, passed on as --site / the session's site; a bad file is refused with its reason."""
    site_file = tmp_path / "cobot.json"
    site_file.write_text(json.dumps(asdict(load_cobot_site(SITES_DIR / "piper_ros2.json"))))
    db = tmp_path / "wmpo.db"

    async def drive():
        app = WmpoApp(db)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("3")
            pane = app.query_one("#cycle-pane")
            robot = app.query_one("#cycle-robot", Label)
            assert "embedded MuJoCo sim" in str(robot.render()) and "--site" not in pane.cycle_args()
            app.query_one("#cycle-site", Input).value = str(site_file)
            await pilot.pause()
            assert f"robot: Cobot Magic 'cobot-magic-piper-ros2' ({site_file})" in str(robot.render())
            assert pane.cycle_args()[-2:] == ["--site", str(site_file)]
            app.query_one("#cycle-site", Input).value = str(tmp_path / "missing.json")
            await pilot.pause()
            assert "not usable: site file" in str(robot.render()) and "does not exist" in str(robot.render())
            app.query_one("#cycle-start", Button).press()
            await wait_until(pilot, lambda: any("does not exist" in n.message for n in app._notifications), 10,
                             "the refusal")
            assert pane.command is None  # nothing was started

            await pilot.press("2")
            app.query_one("#collect-site", Input).value = str(site_file)
            await pilot.pause()
            assert "Cobot Magic" in str(app.query_one("#collect-robot", Label).render())
            app.query_one("#collect-start", Button).press()  # the scripted expert cannot run on a robot
            await wait_until(pilot, lambda: any("teleop-record" in n.message for n in app._notifications), 10,
                             "the pointer to teleop-record")
            assert app.query_one("#collect-pane").session is None

    asyncio.run(drive())
