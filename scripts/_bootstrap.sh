# Shared by scripts/quickstart and scripts/test: find or install uv, quietly.
# Sourced, not run.  Works on a fresh Debian 12 (root or sudo) and on a machine with uv.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {  # apt_install PKG... : install the Debian packages that are missing
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "==> installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

find_uv() {
  if command -v uv >/dev/null 2>&1; then UV=$(command -v uv); return; fi
  if [ -x "$ROOT/.tools/bin/uv" ]; then UV="$ROOT/.tools/bin/uv"; return; fi
  echo "==> installing uv (from PyPI) into .tools/"
  if ! python3 -m venv "$ROOT/.tools" 2>/dev/null; then
    apt_install python3-venv python3-pip
    python3 -m venv "$ROOT/.tools"
  fi
  "$ROOT/.tools/bin/pip" install -q uv
  UV="$ROOT/.tools/bin/uv"
}
find_uv
# pyfuse3 (a dependency) compiles against libfuse3; the mount needs fusermount3 and /dev/fuse.
# git, rsync, sqlite3 and tar: the programs tests/fuse/test_programs.py runs in a mount.
apt_install fuse3 libfuse3-dev pkg-config gcc git rsync sqlite3 tar
