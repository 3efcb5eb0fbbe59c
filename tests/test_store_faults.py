"""A store on a filesystem that refuses writes, with the fault injected for real: an immutable
file (chattr +i), a read-only bind mount, and a tmpfs that fills up mid-episode. Each is
refused in one clear line, reading keeps working, and nothing committed is lost. And two
real processes recording into one store at once never record the same seed."""

import contextlib
import subprocess

import pytest

from conftest import copy_store
from episode_data import SPEC, assert_episode_intact, write_episode
from test_cli import WMPO_APP, wmpo_app

from storage import EpisodeFilter, EpisodeInfo, SeedTakenError, TrajectoryStore


def run_or_skip(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:  # an unprivileged container: the fault cannot be made here
        pytest.skip(f"`{' '.join(command)}` is not permitted here: {done.stderr.strip()}")


@contextlib.contextmanager
def immutable(path):
    run_or_skip("chattr", "+i", str(path))
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@contextlib.contextmanager
def mounted(folder, *options: str):
    folder.mkdir(parents=True, exist_ok=True)
    run_or_skip("mount", *options, str(folder))
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


@contextlib.contextmanager
def read_only(folder):
    with mounted(folder, "--bind", str(folder)):
        run_or_skip("mount", "-o", "remount,bind,ro", str(folder))
        yield folder


def one_clear_line(result) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def store_with_episodes(db, n=2):
    with TrajectoryStore(db) as store:
        return [write_episode(store, seed, 6, source="expert") for seed in range(n)]


def test_an_immutable_store_is_read_and_refused_for_writing(tmp_path):
    db = tmp_path / "wmpo.db"
    ids = store_with_episodes(db)
    with immutable(db):
        assert "read-only" in one_clear_line(wmpo_app("demos", "--n", "1", "--size", "24x32", db=db))
        status = wmpo_app("status", db=db)
        assert status.returncode == 0 and "2 expert" in status.stdout, status.stderr
        assert wmpo_app("check", db=db).stdout.strip() == "integrity: ok"
    with TrajectoryStore(db) as store:
        assert [e.id for e in store.episodes()] == ids
        assert_episode_intact(store, ids[0], 0, 6)


def test_a_store_on_a_read_only_mount_is_read_and_refused_for_writing(tmp_path):
    folder = tmp_path / "media"
    folder.mkdir()
    db = folder / "wmpo.db"
    ids = store_with_episodes(db)
    with read_only(folder):
        status = wmpo_app("status", db=db)
        assert status.returncode == 0 and "2 expert" in status.stdout, status.stderr  # not "damaged"
        assert "expert" in wmpo_app("episodes", db=db).stdout
        assert wmpo_app("check", db=db).stdout.strip() == "integrity: ok"
        assert "read-only" in one_clear_line(wmpo_app("demos", "--n", "1", "--size", "24x32", db=db))
    with TrajectoryStore(db) as store:
        assert [e.id for e in store.episodes()] == ids


def fill(folder, leave_bytes: int):
    """Fill the filesystem at ``folder`` with one file, leaving about ``leave_bytes`` free."""
    filler = folder / "filler"
    free = subprocess.run(["df", "--output=avail", "-B1", str(folder)], capture_output=True, text=True,
                          check=True).stdout.split()[-1]
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, int(free) - leave_bytes))
    return filler


def test_a_disk_that_fills_mid_episode_keeps_every_committed_episode(tmp_path):
    folder = tmp_path / "small"
    with mounted(folder, "-t", "tmpfs", "-o", "size=16m", "tmpfs"):
        db = folder / "wmpo.db"
        first = wmpo_app("demos", "--n", "1", "--size", "48x64", db=db)
        assert first.returncode == 0, first.stderr
        episode_bytes = db.stat().st_size
        filler = fill(folder, episode_bytes // 3)  # room for a third of the next episode
        full = one_clear_line(wmpo_app("demos", "--n", "2", "--size", "48x64", db=db))
        assert "full" in full and "earlier episodes are intact" in full
        # while the disk stays full, the store can still be looked at
        status = wmpo_app("status", db=db)
        assert status.returncode == 0 and "1 expert" in status.stdout, status.stderr
        assert wmpo_app("check", db=db).stdout.strip() == "integrity: ok"
        filler.unlink()
        with TrajectoryStore(db) as store, store.engine.connect() as conn:  # room again: the staged rows go
            assert store.count_episodes() == 1 and store.episodes()[0].length > 0
            assert conn.exec_driver_sql("SELECT count(*) FROM episodes").scalar() == 1  # staged ones included
        again = wmpo_app("demos", "--n", "1", "--size", "48x64", db=db)
        assert again.returncode == 0, again.stderr


def test_a_full_disk_before_the_first_step_is_one_clear_line(tmp_path):
    folder = tmp_path / "small"
    with mounted(folder, "-t", "tmpfs", "-o", "size=8m", "tmpfs"):
        db = folder / "wmpo.db"
        store_with_episodes(db, 1)
        fill(folder, 0)
        full = one_clear_line(wmpo_app("demos", "--n", "1", "--size", "24x32", db=db))
        assert "full" in full and ("a new episode" in full or "cannot be opened" in full)
        assert "1 expert" in wmpo_app("status", db=db).stdout
        assert wmpo_app("check", db=db).stdout.strip() == "integrity: ok"


def test_a_seed_being_recorded_cannot_be_claimed_again(tmp_path):
    with TrajectoryStore(tmp_path / "wmpo.db") as store:
        info = EpisodeInfo(task="transfer_cube", source="expert", seed=5, unique_seed=True)
        with store.episode_writer(info, SPEC):  # staged, not committed: the seed is held
            with pytest.raises(SeedTakenError, match="seed 5 of transfer_cube expert episodes is being recorded"):
                store.episode_writer(info, SPEC)
        write_episode(store, 5, 3, source="expert")
        with pytest.raises(SeedTakenError, match="already recorded"):
            store.episode_writer(info, SPEC)
        # evaluations rerun the same seeds: without unique_seed a seed may repeat
        store.episode_writer(EpisodeInfo(task="transfer_cube", source="expert", seed=5), SPEC).abort()


def test_two_processes_recording_demos_at_once_never_share_a_seed(tmp_path):
    db = tmp_path / "wmpo.db"
    TrajectoryStore(db).close()
    command = [WMPO_APP, "--db", str(db), "demos", "--n", "2", "--size", "24x32"]
    both = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for process in both:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
    with TrajectoryStore(db) as store:
        seeds = sorted(e.seed for e in store.episodes())
    assert seeds == [0, 1, 2, 3]


def test_two_collections_at_once_never_record_a_seed_twice(tiny_base_store, tmp_path):
    db = copy_store(tiny_base_store, tmp_path)
    command = [WMPO_APP, "--db", str(db), "collect", "--policy", "base", "--n", "2"]
    both = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for process in both:  # a clashing seed moves the later claimant on to the next free ones
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
    with TrajectoryStore(db) as store:
        seeds = [e.seed for e in store.episodes() if e.source == "policy"]
    assert len(seeds) == len(set(seeds)) == 4


def test_a_store_with_frames_of_two_sizes_trains_on_the_size_each_model_reads(tmp_path):
    from learning.wmpo import initial_states

    from storage import EpisodeSpec

    db = tmp_path / "wmpo.db"
    with TrajectoryStore(db) as store:  # demos recorded for another profile: 96x128
        big = EpisodeSpec(cameras={"cam_high": (96, 128, 3)})
        for seed in range(2):
            write_episode(store, seed, 12, source="expert", spec=big)
    trained = wmpo_app("train-policy", "--task", "transfer_cube", "--profile", "tiny", "--demos", "2",
                       "--steps", "5", "--batch", "8", db=db)
    assert trained.returncode == 0, trained.stderr  # once: "stack expects each tensor to be equal size"
    assert "[demos 2/2]" in trained.stdout  # the 96x128 demos did not count as the tiny policy's
    with TrajectoryStore(db) as store:
        small = [e.id for e in store.episodes(EpisodeFilter(camera="cam_high", image_size=(32, 48)))]
        assert len(small) == 2 and store.count_episodes() == 4
        starts = initial_states(store, "transfer_cube", "cam_high", (96, 128))
        assert starts and all(s.frame.shape == (96, 128, 3) for s in starts)  # the world model's size only
