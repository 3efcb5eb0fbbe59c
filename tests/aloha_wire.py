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
# The workers of one pytest-xdist run (PYTEST_XDIST_WORKER gwN of PYTEST_XDIST_WORKER_COUNT)
# start from the run's offset and take every N-th domain, so two workers never share one; 232
# domains (1..232; 0 is every robot's default) split evenly between 2, 4 or 8 workers.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
_RUN = os.environ.get("PYTEST_XDIST_TESTRUNUID")  # shared by the workers of one run
_OFFSET = (int(_RUN[:8], 16) if _RUN else os.getpid()) % 60 * 2 * _WORKERS
_domains = itertools.count(_OFFSET + _WORKER, _WORKERS)


def next_domain() -> int:
    return 1 + next(_domains) % 232


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
