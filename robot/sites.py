"""Which robot a site file is for: its ``robot`` field picks the backend's site type.

``"interbotix_aloha"`` (the default, so older files keep working): the Trossen/Interbotix Mobile
ALOHA (``robot.aloha``); ``"cobot_magic"``: AgileX's Cobot Magic (``robot.cobot_magic``).
"""

from __future__ import annotations

from pathlib import Path

from robot.aloha.site import SiteConfig, SiteConfigError, load_site, read_site_file

ROBOTS = ("interbotix_aloha", "cobot_magic")


def load_robot_site(path: Path | str):
    """The checked site config of the file's robot (SiteConfig or CobotMagicSite)."""
    kind = read_site_file(path).get("robot", "interbotix_aloha")
    if kind == "cobot_magic":
        from robot.cobot_magic.site import load_cobot_site
        return load_cobot_site(path)
    if kind == "interbotix_aloha":
        return load_site(path)
    raise SiteConfigError(f"site file {path}: robot {kind!r}; expected one of {list(ROBOTS)}")


def open_robot(site, **kwargs):
    """The Robot backend for a loaded site (not yet connected)."""
    if isinstance(site, SiteConfig):
        from robot.aloha.backend import MobileAloha
        return MobileAloha(site, **kwargs)
    from robot.cobot_magic.backend import CobotMagic
    return CobotMagic(site, **kwargs)


def diagnose_site(site, listen_s: float):
    """The doctor's checks for a loaded site."""
    if isinstance(site, SiteConfig):
        from robot.aloha.doctor import diagnose
    else:
        from robot.cobot_magic.doctor import diagnose
    return diagnose(site, listen_s=listen_s)


def leader_policy(robot):
    """The teleop policy for a connected robot: its leaders' states as actions (on a Cobot Magic,
    also the operator's base velocity from the site's ``teleop_cmd_vel``)."""
    if isinstance(robot.site, SiteConfig):
        from robot.aloha.teleop import LeaderPolicy
        return LeaderPolicy(robot)
    from robot.cobot_magic.teleop import CobotLeaderPolicy
    return CobotLeaderPolicy(robot)
