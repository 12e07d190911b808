# Sourced by scripts/start and scripts/test: create .venv and install the pinned requirements when they change.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
install_chromium() {
  # The browser tests drive Debian's chromium (Playwright cannot download its own browser here).
  [ -x /usr/bin/chromium ] && return 0
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo -n"
  echo "Installing Debian's chromium for the browser tests…" >&2
  $sudo apt-get update -qq && $sudo apt-get install -y -qq chromium >/dev/null || {
    echo "Could not install chromium; run: sudo apt-get install chromium" >&2; return 1; }
}

UV_VERSION=0.13.9

install_studio() {
  local req="$1"
  local stamp=".venv/.installed-$(basename "$req")"
  local want
  want=$( (cat requirements.txt "$req" pyproject.toml; echo "bytecode") | sha256sum | cut -c1-16)
  if [ ! -x .venv/bin/python ]; then
    "${PYTHON:-python3}" -m venv .venv
  fi
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "Installing the studio's pinned dependencies into .venv…" >&2
    # uv installs the same pinned wheels as pip in seconds rather than minutes (it downloads in parallel and keeps
    # a cache); where uv cannot be had, pip does the same job more slowly.
    # (this machine's pip.conf names local index folders that may be missing; pip warns once per package)
    if .venv/bin/python -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION" \
        2> >(grep -v "is ignored: it is neither" >&2); then
      .venv/bin/uv pip install --quiet --python .venv/bin/python -r "$req"
      .venv/bin/uv pip install --quiet --python .venv/bin/python --no-deps -e .
    else
      .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$req" \
        2> >(grep -v "is ignored: it is neither" >&2)
      .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
    fi
    # Byte-compile once here: where PYTHONDONTWRITEBYTECODE is set (this machine sets it), every process would
    # otherwise compile scikit-learn, SciPy and pandas from source at each start (8 s instead of 2.7 s to import
    # sklearn; the suite starts hundreds of processes). Some packages ship test files that do not compile: ignored.
    .venv/bin/python -m compileall -q -j 0 .venv/lib >/dev/null 2>&1 || true
    echo "$want" > "$stamp"
  fi
}
