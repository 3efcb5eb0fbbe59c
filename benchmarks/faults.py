"""The fault corpus: each fault injected for real, what should happen, and what did.

    .venv/bin/python benchmarks/faults.py          # writes benchmarks/results/faults.{md,json}

Every case is a test (an immutable file, a read-only bind mount, a tmpfs that fills up, two
real processes, a killed cycle, ...); this runs them and prints one table. A case the machine
cannot stage (mount or chattr not permitted) shows as skipped, with the reason.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (case, what should happen, the test that injects it)
CORPUS = [
    ("store file immutable (chattr +i)", "writes refused in one line; status, check read it; nothing lost",
     "tests/test_store_faults.py::test_an_immutable_store_is_read_and_refused_for_writing"),
    ("store on a read-only mount", "read (not called damaged); writes refused in one line",
     "tests/test_store_faults.py::test_a_store_on_a_read_only_mount_is_read_and_refused_for_writing"),
    ("disk fills mid-episode (tmpfs)", "one line; earlier episodes intact; status/check work while full; "
     "staged rows removed once there is room", "tests/test_store_faults.py::"
     "test_a_disk_that_fills_mid_episode_keeps_every_committed_episode"),
    ("disk full before the first step", "one line, no traceback; the store still reads",
     "tests/test_store_faults.py::test_a_full_disk_before_the_first_step_is_one_clear_line"),
    ("two `demos` at once", "no seed recorded twice",
     "tests/test_store_faults.py::test_two_processes_recording_demos_at_once_never_share_a_seed"),
    ("two `collect` at once", "no seed recorded twice; a refused one says so in one line",
     "tests/test_store_faults.py::test_two_collections_at_once_never_record_a_seed_twice"),
    ("a seed claimed while being recorded", "SeedTakenError, committed or staged",
     "tests/test_store_faults.py::test_a_seed_being_recorded_cannot_be_claimed_again"),
    ("frames of two sizes in one store", "each model trains on its size; imagination starts from its size",
     "tests/test_store_faults.py::test_a_store_with_frames_of_two_sizes_trains_on_the_size_each_model_reads"),
    ("a cycle stranded by a kill", "cancel refused while it runs; cancel keeps what it recorded",
     "tests/test_cycle.py::test_a_stranded_cycle_can_be_cancelled_keeping_what_it_recorded"),
    ("too few rollouts to hold one out", "a named error; the cycle's fidelity stage skips",
     "tests/test_cycle.py::test_too_few_episodes_for_a_held_out_one_is_a_clear_error"),
    ("SIGKILL mid-collection", "resume without redoing or losing an episode",
     "tests/test_cycle.py::test_sigkill_mid_collection_resumes_without_redoing_or_losing"),
    ("shell characters in the store path", "cron and systemd keep it one argument; nothing injected",
     "tests/test_scheduler.py::test_a_store_path_with_shell_characters_stays_one_argument"),
    ("`status` on a missing store", "refused; nothing created",
     "tests/test_cli.py::test_status_reports_and_never_creates_a_store"),
    ("foreign file, bad HDF5, unknown task, empty folder, unknown id, a reader that closed the pipe",
     "one line each, no Python quotes, no BrokenPipe traceback", "tests/test_cli.py::test_errors_are_one_clear_line"),
    ("NaN measured joint position", "hold position, never a NaN command",
     "tests/test_safety.py::test_a_dead_joint_sensor_holds_position"),
    ("measured position past a joint limit", "command stays within the limit",
     "tests/test_safety.py::test_a_present_position_past_a_limit_never_yields_a_command_past_it"),
]


def outcomes(report: Path) -> dict[str, tuple[str, str, float]]:
    """test name -> (passed | failed | skipped, message, seconds) from a JUnit XML report."""
    found = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        problem = next((c for c in case if c.tag in ("failure", "error", "skipped")), None)
        status = "passed" if problem is None else {"error": "failed"}.get(problem.tag, problem.tag)
        message = "" if problem is None else (problem.get("message") or "").splitlines()[0][:160]
        found[case.get("name")] = (status, message, float(case.get("time", 0)))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "faults.xml"
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
                        *[node for _, _, node in CORPUS]], cwd=ROOT)
        seen = outcomes(report)
    rows = []
    for case, expected, node in CORPUS:
        status, message, seconds = seen.get(node.split("::")[-1], ("not run", "", 0.0))
        rows.append({"case": case, "expected": expected, "observed": status + (f": {message}" if message else ""),
                     "seconds": round(seconds, 1), "test": node})
    lines = ["| case | expected | observed | s |", "|---|---|---|---:|"]
    lines += [f"| {r['case']} | {r['expected']} | {r['observed']} | {r['seconds']} |" for r in rows]
    table = "\n".join(lines)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "faults.md").write_text(table + "\n\nCommand: `.venv/bin/python benchmarks/faults.py`\n")
    (args.out / "faults.json").write_text(json.dumps(rows, indent=1))
    print(table)
    sys.exit(0 if all(r["observed"].startswith(("passed", "skipped")) for r in rows) else 1)


if __name__ == "__main__":
    main()
