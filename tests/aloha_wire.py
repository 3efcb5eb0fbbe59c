"""Shared set-up of the wire tests: Cyclone DDS on loopback, a private ROS domain per site."""

from __future__ import annotations

import itertools
import json
import os
import time
from dataclasses import replace

from robot.aloha.dds_transport import loopback_config

# Before the first participant: Cyclone reads its configuration once per domain.
os.environ["CYCLONEDDS_URI"] = loopback_config()

from robot.aloha.site import SITES_DIR, SiteConfig, load_site  # noqa: E402

# Parallel test runs on one machine must not hear each other: a domain per process and site.
_domains = itertools.count(100 + os.getpid() % 60 * 2)


def next_domain() -> int:
    return next(_domains) % 233


def sim_site(**changes) -> SiteConfig:
    """The default simulated site on a fresh domain, with fast set-up for tests."""
    site = load_site(SITES_DIR / "sim.json")
    return replace(site, domain_id=next_domain(), **changes)


def write_site(site: SiteConfig, path) -> str:
    from dataclasses import asdict
    path.write_text(json.dumps(asdict(site)))
    return str(path)


def wait_for(condition, timeout_s: float) -> float:
    """Seconds until ``condition()`` held (polling every 5 ms); raises after ``timeout_s``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"not within {timeout_s} s")
        time.sleep(0.005)
    return time.monotonic() - started
