#!/usr/bin/env bash
# Capture each pane of the operator UI with tmux, as plain text (.txt) and with colours (.ansi: `cat` it).
#   docs/ui/capture.sh STORE.db      (the store to show; Collect runs live on a scratch store)
set -euo pipefail
cd "$(dirname "$0")/../.."
DB=${1:?usage: docs/ui/capture.sh STORE.db}
OUT=docs/ui
APP=".venv/bin/wmpo-app"
export MUJOCO_GL=${MUJOCO_GL:-egl} HF_HUB_OFFLINE=1

capture() {  # session name
    tmux capture-pane -p -t "$1" > "$OUT/$2.txt"
    tmux capture-pane -p -e -t "$1" > "$OUT/$2.ansi"
}
keys() { tmux send-keys -t "$1" "${@:2}"; sleep 1.5; }

tmux new-session -d -s wmpo-ui -x 170 -y 48 "$APP --db $DB"
sleep 10
capture wmpo-ui dashboard
keys wmpo-ui 3; capture wmpo-ui cycle
keys wmpo-ui 4; capture wmpo-ui iterations
keys wmpo-ui Enter; keys wmpo-ui C-End; keys wmpo-ui Up Up Up
for _ in 1 2 3 4 5 6 7 8; do keys wmpo-ui "]"; done
capture wmpo-ui episodes
keys wmpo-ui 6; capture wmpo-ui schedule
tmux kill-session -t wmpo-ui

SCRATCH=$(mktemp -d)
tmux new-session -d -s wmpo-collect -x 170 -y 48 "$APP --db $SCRATCH/wmpo.db"
sleep 10
keys wmpo-collect 2; keys wmpo-collect Enter  # the pane opens with Start focused: 10 expert demos
sleep 12
capture wmpo-collect collect
tmux kill-session -t wmpo-collect
rm -rf "$SCRATCH"
echo "captured: $(ls $OUT/*.txt | tr '\n' ' ')"
