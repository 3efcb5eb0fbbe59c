"""doctor on an Interbotix ALOHA: one line per driver service it probed (found or not), and a site
file required for a real robot (a template ships), against the simulated node over Cyclone DDS."""

from __future__ import annotations

from dataclasses import replace

from aloha_wire import sim_site  # sets CYCLONEDDS_URI first

from app.cli import main as cli_main
from app.hardware_commands import TEMPLATE_SITE
from robot.aloha.dds_transport import DdsTransport
from robot.aloha.doctor import diagnose
from robot.aloha.sim_node import SimNode
from robot.sites import load_robot_site

FOLLOWER_SERVICES = ("reboot_motors", "set_operating_modes", "set_motor_registers", "torque_enable")


def service_lines(checks) -> dict:
    return {check.name.removeprefix("service "): check for check in checks if check.name.startswith("service ")}


def test_doctor_lists_every_service_it_probed_found_with_the_node():
    site = sim_site(cameras=())
    with DdsTransport(site.domain_id) as transport:  # closed once the in-process node has stopped
        with SimNode(site):
            services = service_lines(diagnose(site, listen_s=0.5, transport=transport))
    expected = {f"/follower_{side}/{name}" for side in ("left", "right") for name in FOLLOWER_SERVICES}
    expected |= {"/leader_left/torque_enable", "/leader_right/torque_enable"}
    assert set(services) == expected
    assert all(check.ok and check.detail.startswith("found (interbotix_xs_msgs/srv/") for check in services.values())
    assert services["/follower_left/set_motor_registers"].detail == "found (interbotix_xs_msgs/srv/RegisterValues)"


def test_a_missing_service_fails_only_where_the_site_needs_it():
    site = sim_site(cameras=())
    services = service_lines(diagnose(site, listen_s=0.2))  # no node: nothing answers
    missing = services["/follower_right/torque_enable"]
    assert not missing.ok and missing.detail.startswith("not found: no server (services do not cross DDS vendors")
    unused = service_lines(diagnose(replace(site, setup_services=False, leaders_powered=False), listen_s=0.2))
    assert all(check.ok and check.detail.endswith("not used by this site") for check in unused.values())


def test_doctor_without_a_site_file_says_one_is_required_and_where_the_template_is(tmp_path, capsys):
    code = cli_main(["--db", str(tmp_path / "wmpo.db"), "doctor"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "a site file is required for a real robot" in err[0] and str(TEMPLATE_SITE) in err[0]
    assert "--sim" in err[0]
    template = load_robot_site(TEMPLATE_SITE)  # the template itself is a valid site
    assert [camera.name for camera in template.cameras] == ["cam_high", "cam_left_wrist", "cam_right_wrist"]
    assert template.gripper_current_limit == 300 and template.base_max_linear_mps == 0.3
    code = cli_main(["--db", str(tmp_path / "wmpo.db"), "doctor", "--sim", "--site", str(TEMPLATE_SITE)])
    assert code == 2 and "--site and --sim both given" in capsys.readouterr().err
