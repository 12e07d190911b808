# Sourced by scripts/start and scripts/test: create .venv and install the pinned requirements when they change.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
install_studio() {
  local req="$1"
  local stamp=".venv/.installed-$(basename "$req")"
  local want
  want=$(cat requirements.txt "$req" pyproject.toml | sha256sum | cut -c1-16)
  if [ ! -x .venv/bin/python ]; then
    "${PYTHON:-python3}" -m venv .venv
  fi
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "Installing the studio's pinned dependencies into .venv (first run takes a few minutes)…" >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$req"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
    echo "$want" > "$stamp"
  fi
}
