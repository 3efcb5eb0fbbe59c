"""The command line's progress: plain lines with an ETA where output is read line by line (the
UI, a pipe, a log), a bar on a terminal."""

import io

from app.progress import ProgressPrinter, eta_text


def test_plain_lines_carry_the_stage_counter_and_an_eta(monkeypatch):
    clock = iter([100.0, 110.0, 130.0, 140.0])
    monkeypatch.setattr("app.progress.time.monotonic", lambda: next(clock))
    out = io.StringIO()
    progress = ProgressPrinter(out, terminal=False)
    for done in (1, 2, 4):
        progress("train", done, 10, "loss 0.5")
    progress("", 3, 3, "imported episode_2.hdf5")
    assert out.getvalue().splitlines() == [
        "[train 1/10] loss 0.5",  # no rate yet
        "[train 2/10] loss 0.5 (ETA 1m20s)",  # 10 s per step since the first report, 8 to go
        "[train 4/10] loss 0.5 (ETA 1m00s)",  # 30 s for 3 steps, 6 to go
        "[3/3] imported episode_2.hdf5",  # done: no ETA
    ]
    assert (eta_text(3725), eta_text(59.6)) == ("1h02m", "1m00s")


def test_a_terminal_gets_a_bar_and_no_lines():
    out = io.StringIO()
    progress = ProgressPrinter(out, terminal=True)
    progress("eval", 3, 128, "last: success")
    progress.close()
    assert "[eval" not in out.getvalue()
