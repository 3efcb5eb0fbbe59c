"""Installing the scheduler so it runs without the UI: a systemd user service, or a cron entry.

Both are plain text the operator can read in the Schedule screen before installing. The
systemd service runs ``wmpo-app scheduler`` (restarted if it dies); the cron entry runs
``wmpo-app scheduler --once`` every five minutes, which sees the same due runs.
"""

from __future__ import annotations

import getpass
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

UNIT_NAME = "wmpo-scheduler.service"
CRON_MARKER = "# wmpo-scheduler"


def wmpo_app_executable() -> Path:
    return Path(sys.executable).parent / "wmpo-app"


def systemd_word(text: str) -> str:
    """One argument of a systemd command line: double-quoted, with systemd's specifiers (%) and
    variables ($) escaped, so a path with spaces, quotes or `;` stays one literal argument."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$") + '"'


def cron_word(text: str) -> str:
    """One shell word of a crontab command; cron turns an unescaped % into a newline."""
    return shlex.quote(text).replace("%", "\\%")


def device_option(word) -> str:
    """`` --device X`` when this process was given a device other than auto (``wmpo-app
    --device cuda:1 scheduler --install ...``): the installed scheduler, and the cycles it
    starts, train there."""
    device = os.environ.get("WMPO_DEVICE", "auto")
    return "" if device == "auto" else f" --device {word(device)}"


def systemd_unit(db: Path, workdir: Path) -> str:
    db, workdir = db.resolve(), workdir.resolve()
    return f"""[Unit]
Description=wmpo overnight cycle scheduler ({str(db).replace("%", "%%")})

[Service]
Type=simple
WorkingDirectory={str(workdir).replace("%", "%%")}
Environment=HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MUJOCO_GL=egl
ExecStart={systemd_word(str(wmpo_app_executable()))} --db {systemd_word(str(db))}{device_option(systemd_word)} scheduler
Restart=on-failure
RestartSec=30

[Install]
WantedBy=default.target
"""


def cron_line(db: Path, workdir: Path) -> str:
    db, workdir = db.resolve(), workdir.resolve()
    log = db.parent / "logs" / "scheduler-cron.log"
    return (f"*/5 * * * * mkdir -p {cron_word(str(log.parent))} && cd {cron_word(str(workdir))} && "
            f"HF_HUB_OFFLINE=1 MUJOCO_GL=egl "
            f"{cron_word(str(wmpo_app_executable()))} --db {cron_word(str(db))}{device_option(cron_word)} "
            f"scheduler --once >> {cron_word(str(log))} 2>&1 {CRON_MARKER}")


def install_systemd(db: Path, workdir: Path, unit_dir: Path | None = None) -> str:
    """Write the user unit; enable and start it when systemd is there. Returns what was done."""
    unit_dir = unit_dir or Path.home() / ".config" / "systemd" / "user"
    unit_dir.mkdir(parents=True, exist_ok=True)
    path = unit_dir / UNIT_NAME
    path.write_text(systemd_unit(db, workdir))
    enable = ["systemctl", "--user", "enable", "--now", UNIT_NAME]
    if shutil.which("systemctl") is None:
        return f"wrote {path}; systemd is not available here: start `wmpo-app scheduler` another way"
    reload = subprocess.run(["systemctl", "--user", "daemon-reload"], capture_output=True, text=True)
    started = subprocess.run(enable, capture_output=True, text=True) if reload.returncode == 0 else reload
    if started.returncode != 0:
        return f"wrote {path}; `{' '.join(enable)}` failed: {started.stderr.strip() or started.stdout.strip()}"
    return f"wrote {path} and enabled it (systemctl --user status {UNIT_NAME}); {enable_linger()}"


def enable_linger() -> str:
    """A user's systemd services stop at logout unless the user lingers: the scheduler must not."""
    user = getpass.getuser()
    if shutil.which("loginctl") is None:
        return f"loginctl is not here: run `loginctl enable-linger {user}` where it is, or the scheduler stops at logout"
    done = subprocess.run(["loginctl", "enable-linger", user], capture_output=True, text=True)
    if done.returncode != 0:
        return (f"`loginctl enable-linger {user}` failed ({done.stderr.strip() or done.stdout.strip()}): "
                f"without it the scheduler stops at logout")
    return f"lingering enabled for {user}: the scheduler keeps running after logout"


def install_cron(db: Path, workdir: Path) -> str:
    """Add the entry to this user's crontab (once). Returns what was done."""
    if shutil.which("crontab") is None:
        raise RuntimeError("crontab is not installed here; add this line to a crontab by hand:\n"
                           + cron_line(db, workdir))
    current = subprocess.run(["crontab", "-l"], capture_output=True, text=True)
    lines = current.stdout.splitlines() if current.returncode == 0 else []
    lines = [line for line in lines if CRON_MARKER not in line] + [cron_line(db, workdir)]
    subprocess.run(["crontab", "-"], input="\n".join(lines) + "\n", text=True, check=True)
    return "installed the cron entry (crontab -l shows it)"
