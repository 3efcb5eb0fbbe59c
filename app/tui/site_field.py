"""Which robot a pane drives: a site file (an Interbotix ALOHA or a Cobot Magic, by its ``robot``
field), or blank for the embedded MuJoCo sim. The line beside it says, as the operator types,
which robot the file names or why it cannot be used."""

from __future__ import annotations

import os

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Label

from robot.aloha.site import SiteConfig, SiteConfigError
from robot.sites import load_robot_site

SIM = "robot: the embedded MuJoCo sim"


def describe_site(path: str) -> str:
    """One line naming the robot a site file describes, or why it cannot be used."""
    if not path.strip():
        return SIM
    try:
        site = load_robot_site(path.strip())
    except SiteConfigError as exc:
        return f"not usable: {exc}"
    kind = "Interbotix ALOHA" if isinstance(site, SiteConfig) else "Cobot Magic"
    return f"robot: {kind} {site.name!r} ({os.path.abspath(path.strip())})"


class SiteField(Horizontal):
    def __init__(self, prefix: str):
        super().__init__(classes="form site-field")
        self.prefix = prefix

    def compose(self) -> ComposeResult:
        yield Input("", placeholder="site file (blank: the embedded MuJoCo sim)", id=f"{self.prefix}-site")
        yield Label(SIM, id=f"{self.prefix}-robot")

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one(Label).update(describe_site(event.value))

    def site(self) -> str | None:
        """The chosen site file as an absolute path, None for the sim; ValueError (SiteConfigError)
        naming the file and the problem when it cannot be used."""
        path = self.query_one(Input).value.strip()
        if not path:
            return None
        load_robot_site(path)
        return os.path.abspath(path)
