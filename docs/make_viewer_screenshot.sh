#!/usr/bin/env bash
# Screenshot of the offline map viewer (view.html from `irrmap view RUN_DIR`) with headless Chromium (Debian
# package `chromium`), e.g. docs/images/viewer.png from the README's demo run:
#   irrmap view demo_out/output
#   bash docs/make_viewer_screenshot.sh demo_out/output/view.html docs/images/viewer.png "unit=610202"
# The third argument is the viewer's URL hash: show=LAYER_ID,... turns layers on, unit=CODE opens a unit's popup.
set -euo pipefail
html="${1:-demo_out/output/view.html}"
out="${2:-docs/images/viewer.png}"
hash="${3:-}"
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
page="file://$(realpath "$html")"
if [ -n "$hash" ]; then  # a file URL with '#' is not opened as such from the command line: go through a redirect
  printf '<script>location.replace("%s#%s")</script>' "$page" "$hash" > "$profile/go.html"
  page="file://$profile/go.html"
fi
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --user-data-dir="$profile" --hide-scrollbars --virtual-time-budget=5000 \
  --window-size="${WIDTH:-1280}","${HEIGHT:-800}" --screenshot="$(realpath -m "$out")" "$page" 2>/dev/null
echo "viewer rendered to $out"
