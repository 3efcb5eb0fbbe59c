#!/usr/bin/env bash
# wmpo: one script to set up and run everything.
#   ./run.sh              set up, then start the main job (wmpo-app) on the embedded store
#   ./run.sh test [ARGS]  set up, then run the whole test suite on 2 workers (ARGS go to pytest)
#   ./run.sh ARGS...      set up, then run `wmpo-app ARGS...`
# Set-up: system packages (apt, when root or sudo is available), .venv, the project itself.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
VENV=.venv
TORCH_VERSION=2.13.0   # pinned so a local CPU wheel (pip find-links) is used when present
STAMP=$VENV/.wmpo-install-stamp
export WMPO_DB=${WMPO_DB:-wmpo-data/wmpo.db}

say() { printf '[run.sh] %s\n' "$*" >&2; }

system_packages_needed() {
    local missing=()
    # Debian/Ubuntu split venv support out of python3; without it `python3 -m venv` fails.
    if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
        missing+=("python3-venv")
    fi
    for pkg in "${SYSTEM_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
    done
    echo "${missing[@]}"
}

# Libraries the Python packages load at run time: headless OpenGL for MuJoCo's renderer
# (EGL through Mesa's software rasteriser; OSMesa as the fallback, MUJOCO_GL=osmesa), and
# libusb for pyrealsense2.
SYSTEM_PACKAGES=(libegl1 libegl-mesa0 libgl1-mesa-dri libosmesa6 libusb-1.0-0)

install_system_packages() {
    command -v dpkg-query >/dev/null || { say "not a Debian/Ubuntu system: skipping apt checks"; return; }
    local missing
    missing=$(system_packages_needed)
    [ -z "$missing" ] && return
    local apt_cmd="apt-get update && apt-get install -y --no-install-recommends $missing"
    if [ "$(id -u)" -eq 0 ]; then
        say "installing system packages: $missing"
        bash -c "$apt_cmd" >/dev/null
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        say "installing system packages with sudo: $missing"
        sudo bash -c "$apt_cmd" >/dev/null
    else
        say "missing system packages: $missing"
        say "install them, then run ./run.sh again:"
        echo "    sudo bash -c '$apt_cmd'"
        exit 1
    fi
}

install_python_env() {
    "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 10), sys.version' \
        || { say "Python >= 3.10 is required ($PYTHON is $("$PYTHON" --version 2>&1))"; exit 1; }
    [ -x "$VENV/bin/python" ] || { say "creating $VENV"; "$PYTHON" -m venv "$VENV"; }
    local want
    want=$(cat pyproject.toml run.sh | sha256sum | cut -d' ' -f1)
    if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
        return
    fi
    say "installing wmpo and its Python dependencies into $VENV (log: $VENV/install.log)"
    {
        "$VENV/bin/python" -m pip install --upgrade pip &&
        "$VENV/bin/python" -m pip install "torch==$TORCH_VERSION" &&
        "$VENV/bin/python" -m pip install -e ".[test]"
    } >"$VENV/install.log" 2>&1 || { tail -n 40 "$VENV/install.log" >&2; say "install failed"; exit 1; }
    echo "$want" > "$STAMP"
}

install_system_packages
install_python_env

# Models are only ever loaded from local paths: never reach for a hub.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

# A real rclpy for the cross-vendor wire test (tests/test_rclpy_interop.py): PyPI's ros-rclpy wheels
# (ROS 2 Kilted, Fast DDS, cp311), in a Python of their own since they pin another numpy. They are
# ~260 MB, mostly download, so they install in the background while the suite runs; the test waits
# for $ROS_VENV.status. Best effort: where they do not install, that one test is skipped and says why.
ROS_VENV=.rosvenv
ROS_WHEELS="ros-rclpy==9.1.2 ros-sensor-msgs==5.5.1 ros-geometry-msgs==5.5.1 ros-rmw-fastrtps-cpp==9.3.3"
install_ros_peer() {
    rm -f "$ROS_VENV.status"
    export WMPO_ROS_PYTHON="$PWD/$ROS_VENV/bin/python" WMPO_ROS_INSTALL_STATUS="$PWD/$ROS_VENV.status"
    if [ -f "$ROS_VENV/.installed" ] && [ "$(cat "$ROS_VENV/.installed")" = "$ROS_WHEELS" ]; then
        echo ok > "$ROS_VENV.status"
        return 0
    fi
    say "installing a real rclpy for the cross-vendor wire test into $ROS_VENV, in the background (log: $ROS_VENV.log)"
    (
        # shellcheck disable=SC2086  # the wheel list splits into arguments
        if { "$PYTHON" -m venv "$ROS_VENV" && nice "$ROS_VENV/bin/python" -m pip install $ROS_WHEELS; } >"$ROS_VENV.log" 2>&1
        then echo "$ROS_WHEELS" > "$ROS_VENV/.installed"; echo ok > "$ROS_VENV.status"
        else echo "failed: see $ROS_VENV.log" > "$ROS_VENV.status"; fi
    ) &
}

# The suite runs on WMPO_TEST_WORKERS pytest-xdist workers (default 2: this project's machines
# have 2 cores; 1 runs it in one process). Each worker and its child processes use one torch
# thread (tests/conftest.py); tests that share one fixed path form an xdist_group (loadgroup).
if [ "${1:-}" = "test" ]; then
    shift
    install_ros_peer
    workers=${WMPO_TEST_WORKERS:-2}
    if [ "$workers" -gt 1 ]; then
        exec "$VENV/bin/python" -m pytest -n "$workers" --dist loadgroup "$@"
    fi
    exec "$VENV/bin/python" -m pytest "$@"
fi
exec "$VENV/bin/wmpo-app" "$@"
