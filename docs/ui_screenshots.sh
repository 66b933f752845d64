#!/usr/bin/env bash
# Screenshots of the Dagster UI on the demo's runs, for review (make screenshots).
# Needs Debian's chromium (apt-get install chromium); installs websocket-client into .venv for
# the plot view. Writes docs/screenshots/*.png.
set -euo pipefail
cd "$(dirname "$0")/.."
export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/.dagster_home}"
PORT="${PORT:-3077}"
OUT=docs/screenshots
.venv/bin/lgl-sync demo > /dev/null
# dagster dev on the demo's runs, with a live sandbox behind it: schedules and sensors running.
.venv/bin/lgl-sync dev --sandbox --port "$PORT" > "$DAGSTER_HOME/ui-screenshots.log" 2>&1 &
DEV=$!
trap 'kill $DEV 2>/dev/null; wait $DEV 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$PORT/server_info" > /dev/null && break
  sleep 1
done
shoot() {
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$(mktemp -d)" --window-size=1600,1000 --virtual-time-budget=20000 \
    --hide-scrollbars --screenshot="$OUT/$1.png" "http://127.0.0.1:$PORT$2" 2> /dev/null
  echo "$OUT/$1.png  <- $2"
}
shoot asset-graph-orders "/locations/lgl_sync/asset-groups/orders"
shoot asset-graph-inventory "/locations/lgl_sync/asset-groups/inventory"
shoot order-partitions "/assets/imported_lgl_orders?view=partitions&partition=nationwide-plants"
shoot order-metadata "/assets/imported_lgl_orders?view=events"
shoot automation "/automation"
shoot asset-graph-reports "/locations/lgl_sync/asset-groups/reports"
shoot stock-insight-metadata "/assets/stock_insight?view=events&partition=nationwide-plants"
shoot usage-partitions "/assets/monthly_usage?view=partitions"
# Metadata plots sit behind a toggle: driven over the DevTools protocol (websocket-client).
.venv/bin/python -c "import websocket" 2> /dev/null || .venv/bin/pip install --quiet websocket-client
.venv/bin/python docs/ui_plot_screenshot.py \
  "http://127.0.0.1:$PORT/assets/imported_lgl_orders?view=overview" "$OUT/order-metadata-plots.png"
echo "$OUT/order-metadata-plots.png  <- metadata plots of imported_lgl_orders"
