#!/usr/bin/env bash
# Install check: nvr works as an installed package, not only from the checkout.
#
#   scripts/check_install.sh
#
# Builds a wheel from the checkout (a copy of its tracked and untracked,
# non-ignored files, so a stale build/ cannot hide a missing file), installs it
# with its dependencies into a fresh venv in a temp dir, and from another temp
# dir (the checkout is not on sys.path) runs `nvr db upgrade` and a short
# `nvr run` with one simulated camera. Within NVR_INSTALL_CHECK_DEADLINE seconds
# (default 40) /healthz must answer 200, and the camera must show up online in
# /api/cameras or a recording file must appear (it waits for both, up to the
# deadline); then SIGTERM must end it with exit status 0 and no traceback.
# Prints each check; exits non-zero on the first failure.
#
# The fresh venv is made by NVR_INSTALL_CHECK_PYTHON (default python3, >= 3.11).
# The checkout's .venv pip, when there is one, builds and installs (--python),
# else the fresh venv gets its own pip. pip's cache is used as usual
# (PIP_CACHE_DIR): only the first run on a machine downloads the dependencies.
# NVR_KEEP_INSTALL_CHECK=1 keeps the temp dir for inspection.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${NVR_INSTALL_CHECK_PYTHON:-python3}"
DEADLINE="${NVR_INSTALL_CHECK_DEADLINE:-40}"
export PIP_DISABLE_PIP_VERSION_CHECK=1
unset PYTHONPATH PYTHONHOME VIRTUAL_ENV
unset PYTHONDONTWRITEBYTECODE  # the temp venv may cache bytecode (see --no-compile)

WORK="$(mktemp -d "${TMPDIR:-/tmp}/nvr-install-check.XXXXXX")"
NVR_PID=""
START_S=$(date +%s)

cleanup() {
    local rc=$?
    if [[ -n "${NVR_PID}" ]] && kill -0 "${NVR_PID}" 2>/dev/null; then
        kill -KILL "${NVR_PID}" 2>/dev/null || true
        wait "${NVR_PID}" 2>/dev/null || true
    fi
    if [[ "${NVR_KEEP_INSTALL_CHECK:-0}" == 1 ]]; then
        echo "install check: kept ${WORK}"
    else
        rm -rf "${WORK}"
    fi
    if ((rc == 0)); then
        echo "install check: OK in $(($(date +%s) - START_S)) s"
    else
        echo "install check: FAILED (exit status ${rc}) after $(($(date +%s) - START_S)) s" >&2
    fi
}
trap cleanup EXIT

step() { echo "--- [$(($(date +%s) - START_S)) s] $*"; }
ok() { echo "    ok: $*"; }
fail() {
    echo "    FAILED: $*" >&2
    if [[ -f "${WORK}/nvr.log" ]]; then
        echo "    --- last lines of the nvr log:" >&2
        tail -n 40 "${WORK}/nvr.log" | sed 's/^/    | /' >&2
    fi
    exit 1
}

# ---------------------------------------------------------------------------------
step "copy the checkout's sources to ${WORK}/src"
"${PYTHON}" - "${REPO}" "${WORK}/src" <<'EOF'
import shutil, subprocess, sys
from pathlib import Path

repo, dst = Path(sys.argv[1]), Path(sys.argv[2])
try:
    out = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others",
                          "--exclude-standard"], capture_output=True, check=True).stdout
    names = [n for n in out.decode().split("\0") if n]
except (OSError, subprocess.CalledProcessError):  # not a git checkout: copy all but junk
    skip = {".git", ".venv", "build", "data", "__pycache__", ".pytest_cache", ".ruff_cache",
            ".mypy_cache"}
    names = [str(p.relative_to(repo)) for p in repo.rglob("*")
             if p.is_file() and not skip & set(p.relative_to(repo).parts)
             and not any(part.endswith(".egg-info") for part in p.parts)]
copied = 0
for name in names:
    src = repo / name
    if src.is_file():  # skips files deleted in the work tree but still in the index
        (dst / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst / name)
        copied += 1
print(f"    {copied} files")
EOF

step "make a fresh venv"
VPY="${WORK}/venv/bin/python"
# The checkout's .venv pip (CI has made it by now) installs into the fresh venv
# with --python, which saves the venv its own pip (ensurepip takes seconds);
# without a usable .venv the fresh venv gets its own pip.
if "${REPO}/.venv/bin/python" -m pip --version >/dev/null 2>&1; then
    "${PYTHON}" -m venv --without-pip "${WORK}/venv"
    PIP=("${REPO}/.venv/bin/python" -m pip --python "${VPY}")
    if ! "${PIP[@]}" --version >/dev/null 2>&1; then  # pip < 22.3 has no --python
        "${VPY}" -m ensurepip -q
        PIP=("${VPY}" -m pip)
    fi
else
    "${PYTHON}" -m venv "${WORK}/venv"
    PIP=("${VPY}" -m pip)
fi
ok "$("${VPY}" --version), $("${PIP[@]}" --version | cut -d' ' -f1-2)"

step "build the wheel"
"${PIP[@]}" wheel -q --no-deps -w "${WORK}/dist" "${WORK}/src"
WHEEL="$(ls "${WORK}"/dist/nvr-*.whl)"
ok "$(basename "${WHEEL}")"
"${PYTHON}" - "${WHEEL}" "${WORK}/src" <<'EOF' || fail "files missing from the wheel"
import sys, zipfile
from pathlib import Path

names = set(zipfile.ZipFile(sys.argv[1]).namelist())
src = Path(sys.argv[2])
# Every file of the nvr package in the checkout (code and data) is in the wheel.
files = sorted(p.relative_to(src).as_posix() for p in (src / "nvr").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts)
missing = [f for f in files if f not in names]
if missing:
    sys.exit(f"    not in the wheel: {missing}")
need = ["nvr/db/migrations/env.py", "nvr/db/migrations/script.py.mako"]
versions = [n for n in names if n.startswith("nvr/db/migrations/versions/") and n.endswith(".py")]
if not versions or not set(need) <= names:
    sys.exit(f"    no migrations in the wheel: {sorted(names)}")
data = [n for n in names if n.startswith(("nvr/web/templates/", "nvr/web/static/"))]
print(f"    ok: all {len(files)} files of nvr/ are in the wheel, among them the migrations "
      f"(env.py, script.py.mako, {len(versions)} versions) and {len(data)} web "
      "templates/static files")
EOF

step "install it with its dependencies into the fresh venv"
# --no-compile: the nvr runs below compile (and cache) only the modules they import.
"${PIP[@]}" install -q --no-compile "${WHEEL}"
NVR="${WORK}/venv/bin/nvr"
[[ -x "${NVR}" ]] || fail "no nvr command in the venv"
ok "${NVR}"

RUN_DIR="${WORK}/run"
mkdir -p "${RUN_DIR}"
cd "${RUN_DIR}"  # not the checkout: it must not be on sys.path

step "the package is imported from the venv and finds its data there"
"${VPY}" - "${WORK}/venv" "${REPO}" <<'EOF' || fail "package data not found"
import sys
from pathlib import Path

import nvr.web
from nvr.db.session import migrations_dir

venv, repo = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
package = Path(nvr.__file__).resolve().parent
if not package.is_relative_to(venv) or package.is_relative_to(repo):
    sys.exit(f"    nvr imported from {package}, not from the venv")
web = Path(nvr.web.__file__).resolve().parent
checks = {
    "migrations": migrations_dir().is_relative_to(package),
    "env.py": (migrations_dir() / "env.py").is_file(),
    "versions": any((migrations_dir() / "versions").glob("*.py")),
    "templates": (web / "templates").is_dir(),
    "static": (web / "static").is_dir(),
}
bad = [k for k, good in checks.items() if not good]
if bad:
    sys.exit(f"    missing in the installed package {package}: {bad}")
print(f"    ok: nvr from {package}; migrations in {migrations_dir()}")
EOF

# Two free ports (the HTTP API and the simulator's RTSP).
read -r HTTP_PORT SIM_PORT < <("${PYTHON}" - <<'EOF'
import socket

socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
EOF
)
CONFIG="${WORK}/nvr.toml"
cat > "${CONFIG}" <<EOF
[server]
data_dir = "${RUN_DIR}/data"
http = "127.0.0.1:${HTTP_PORT}"

[recording]
segment_seconds = 2
min_free = 0

[[cameras]]
name = "sim1"
url = "rtsp://127.0.0.1:${SIM_PORT}/cam1"

[sim]
cameras = 1
port = ${SIM_PORT}
width = 320
height = 240
fps = 10
bitrate_kbps = 300
audio = false
EOF
NVR_ADMIN_PASSWORD="check-$("${PYTHON}" -c 'import secrets; print(secrets.token_hex(8))')"
export NVR_ADMIN_PASSWORD

step "nvr db upgrade --config ${CONFIG}"
out="$("${NVR}" db upgrade --config "${CONFIG}" 2>&1)" || fail "nvr db upgrade: ${out}"
"${VPY}" - "${RUN_DIR}/data/nvr.db" <<'EOF' || fail "no schema after upgrade"
import sqlite3, sys

conn = sqlite3.connect(sys.argv[1])
tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
version = conn.execute("SELECT version_num FROM alembic_version").fetchall()
if "segments" not in tables or not version:
    sys.exit(f"    tables {sorted(tables)}, alembic_version {version}")
print(f"    ok: {sys.argv[1]} has the segments table, alembic version {version[0][0]}")
EOF

step "nvr run --config ${CONFIG} (http 127.0.0.1:${HTTP_PORT}, sim rtsp port ${SIM_PORT})"
"${NVR}" run --config "${CONFIG}" >"${WORK}/nvr.log" 2>&1 </dev/null &
NVR_PID=$!
"${VPY}" - "${HTTP_PORT}" "${RUN_DIR}/data" "${DEADLINE}" "${NVR_PID}" <<'EOF' || fail "not up in time"
import base64, json, os, sys, time, urllib.error, urllib.request
from pathlib import Path

port, data, deadline_s, pid = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
auth = base64.b64encode(f"admin:{os.environ['NVR_ADMIN_PASSWORD']}".encode()).decode()


def get(path: str, authorized: bool = False) -> tuple[int, bytes]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if authorized:
        req.add_header("Authorization", f"Basic {auth}")
    try:
        with urllib.request.urlopen(req, timeout=3) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


start = time.monotonic()
healthz = online = None
recording = None
status = "?"
while time.monotonic() - start < deadline_s and not (healthz and online and recording):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit("    nvr run exited early")
    try:
        if healthz is None and get("/healthz")[0] == 200:
            healthz = time.monotonic() - start
        if healthz is not None and online is None:
            code, body = get("/api/cameras", authorized=True)
            cams = {c["name"]: c for c in json.loads(body)} if code == 200 else {}
            status = cams.get("sim1", {}).get("status", f"HTTP {code}")
            if status == "online":
                online = time.monotonic() - start
    except (OSError, ValueError):
        pass  # not listening yet
    if recording is None and any((data / "recordings" / "sim1").rglob("*.mp4")):
        recording = time.monotonic() - start
    time.sleep(0.25)

def when(t: float | None) -> str:
    return f"after {t:.1f} s" if t is not None else f"NOT within {deadline_s:g} s"

login_code, login_page = get("/login")
css_code, _ = get("/static/css/app.css")
print(f"    GET /login: HTTP {login_code}, GET /static/css/app.css: HTTP {css_code}")
if login_code != 200 or b'name="csrf_token"' not in login_page or css_code != 200:
    sys.exit("    the login page or its stylesheet is missing from the installed package")
print(f"    GET /healthz answered 200 {when(healthz)}")
print(f"    /api/cameras shows sim1 online {when(online)}" + ("" if online else f" ({status})"))
print(f"    a recording file appeared under data/recordings/sim1 {when(recording)}")
if healthz is None or (online is None and recording is None):
    sys.exit(1)
EOF
ok "nvr run is serving and recording"

step "SIGTERM: nvr run must stop with exit status 0"
kill -TERM "${NVR_PID}"
for _ in $(seq 1 100); do  # up to 20 s (the recorders get 8 s to flush)
    kill -0 "${NVR_PID}" 2>/dev/null || break
    sleep 0.2
done
kill -0 "${NVR_PID}" 2>/dev/null && fail "nvr run still running 20 s after SIGTERM"
rc=0
wait "${NVR_PID}" || rc=$?
NVR_PID=""
((rc == 0)) || fail "nvr run exited with status ${rc} after SIGTERM"
grep -q "Traceback" "${WORK}/nvr.log" && fail "a traceback in the nvr log"
ok "exit status 0, no traceback in the log"
