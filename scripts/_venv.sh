# Sourced by scripts/serve and scripts/test: make .venv and install Darkroom into it (with EXTRAS if set).
# pip is used on purpose: the optional torch pin needs pip's view of the local wheel (see README).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${EXTRAS:+[$EXTRAS]}"
