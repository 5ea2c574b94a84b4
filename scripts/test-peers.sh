#!/usr/bin/env bash
# Installs the test peers that are not servers: a Python virtualenv with an
# independent iCalendar parser (Python's `icalendar`, pinned in
# scripts/test-peers/requirements.txt), which the calendar feed tests use to
# read back what the server wrote. Installs Debian's python3-venv when
# missing. Prints the virtualenv's python; tests find it through
# CRM_TEST_PYTHON (scripts/test.sh exports it) or at
# $CARGO_TARGET_DIR/test-venv/bin/python. Also installs Debian's
# poppler-utils when missing: the report-formats tests read their PDFs back
# with its pdftotext and pdffonts; and Debian's Chromium with its WebDriver
# (`chromium`, `chromium-driver`: /usr/bin/chromium and /usr/bin/chromedriver)
# when missing: the analyst page's browser test drives them.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { if [ -t 2 ]; then printf '\033[1m==>\033[0m %s\n' "$*" >&2; else printf '==> %s\n' "$*" >&2; fi; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

target_dir=${CARGO_TARGET_DIR:-$PWD/target}
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3)
if ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  say "installing python3-venv (Debian package)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi
if ! command -v pdftotext >/dev/null 2>&1 || ! command -v pdffonts >/dev/null 2>&1; then
  say "installing poppler-utils (Debian package)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils >/dev/null
fi
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  say "installing chromium and chromium-driver (Debian packages)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
venv="$target_dir/test-venv"
stamp="$venv/.requirements.sha256"
want=$(sha256sum scripts/test-peers/requirements.txt | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing the test peers into $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r scripts/test-peers/requirements.txt
  echo "$want" >"$stamp"
fi
echo "$venv/bin/python"
