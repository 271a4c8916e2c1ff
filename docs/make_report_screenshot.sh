#!/usr/bin/env bash
# Render an irrmap evaluation report (report.html) to a PNG with headless Chromium (Debian package `chromium`),
# e.g. docs/images/demo_report.png from the README's demo run:
#   bash docs/make_report_screenshot.sh demo_out/output/evaluation/report.html docs/images/demo_report.png
set -euo pipefail
html="${1:-demo_out/output/evaluation/report.html}"
out="${2:-docs/images/demo_report.png}"
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --user-data-dir="$profile" --hide-scrollbars \
  --window-size=1280,"${HEIGHT:-5200}" --screenshot="$(realpath -m "$out")" "file://$(realpath "$html")" 2>/dev/null
echo "report rendered to $out"
