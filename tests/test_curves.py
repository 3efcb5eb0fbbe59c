"""Training curves: written beside every checkpoint as training goes, read back after a
resume or a crash, plotted by `wmpo-app curves`, and shown per cycle stage in the store."""

from app.cli import main
from app.cycle import IterationContext
from app.cycle_config import JOB_KIND, STAGES
from app.cycle_config import profile as cycle_profile
from conftest import copy_store
from learning.curves import append_point, curve_path, read_curve, sparkline


def test_a_resumed_run_rewrites_its_steps_and_a_torn_line_is_skipped(tmp_path):
    folder = tmp_path / "model"
    for step, loss in ((1, 3.0), (2, 2.0), (3, 1.5)):
        append_point(folder, {"step": step, "loss": loss})
    for step, loss in ((2, 1.9), (3, 1.4)):  # resumed from the checkpoint at step 1
        append_point(folder, {"step": step, "loss": loss})
    with open(curve_path(folder), "a") as f:
        f.write('{"step": 4, "lo')  # a crash mid-line
    assert [(p["step"], p["loss"]) for p in read_curve(folder)] == [(1, 3.0), (2, 1.9), (3, 1.4)]
    assert sparkline([3.0, 2.0, 1.0]) == "█▅▁" and sparkline([]) == ""


def test_training_writes_its_curve_and_curves_plots_it(tiny_base_store, tmp_path, capsys):
    db = copy_store(tiny_base_store, tmp_path)  # its base policy trained 10 steps
    points = read_curve(db.parent / "checkpoints" / "base")
    assert points[-1]["step"] == 10 and {"loss", "lr", "steps_per_s", "token_accuracy"} <= set(points[-1])
    out = tmp_path / "curves.png"
    assert main(["--db", str(db), "curves", "base", "--out", str(out)]) == 0
    assert out.stat().st_size > 5000 and f"base: {len(points)} points to step 10" in capsys.readouterr().out
    assert main(["--db", str(db), "curves", "no-such-run"]) == 2
    assert "no training curve for 'no-such-run'" in capsys.readouterr().err


def test_a_cycle_stage_logs_its_losses_with_their_steps(store):
    iteration = store.start_iteration("transfer_cube", 4)
    job = store.jobs.claim(store.jobs.create(JOB_KIND, list(STAGES), {"cycle": {"task": "transfer_cube"}},
                                             iteration_id=iteration.id).id)
    step = job.steps[1]
    ctx = IterationContext(store, cycle_profile("tiny"), iteration.id, 1, {}, report=lambda line: None,
                           step_id=step.id, stage="align")
    for done, loss in ((10, 0.5), (20, 0.3), (30, 0.2)):
        ctx.progress(done, 30, f"align {done}/30", loss)
    logged = store.metrics("align/loss", job_step_id=step.id)
    assert [(m.step, m.value) for m in logged] == [(10, 0.5), (20, 0.3), (30, 0.2)]
    assert all(m.iteration_id == iteration.id for m in logged)  # the Cycle screen draws them as a sparkline
