# Sourced by the entry scripts: makes sure uv and the workspace's locked virtualenv exist (idempotent, offline
# once done). Needs only Python 3.11+ on the machine; everything else comes from the lock file.
set -euo pipefail
KOTA_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$KOTA_ROOT"
UV_VERSION=0.13.9
export UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy

find_python() {
  for candidate in python3.11 python3.12 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 13) else 1)' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  echo "Kota needs Python 3.11 or 3.12 on PATH" >&2; return 1
}

KOTA_PYTHON=$(find_python)
if [ -x .tools/uv/bin/uv ] && [ "$(.tools/uv/bin/uv --version | awk '{print $2}')" = "$UV_VERSION" ]; then
  UV=.tools/uv/bin/uv
else
  echo "==> installing uv $UV_VERSION into .tools/uv" >&2
  "$KOTA_PYTHON" -m venv .tools/uv
  .tools/uv/bin/python -m pip install --quiet "uv==$UV_VERSION"
  UV=.tools/uv/bin/uv
fi
echo "==> syncing the workspace from uv.lock" >&2
"$UV" sync --frozen --all-packages --python "$KOTA_PYTHON" --quiet
export PATH="$KOTA_ROOT/.venv/bin:$PATH"
