#!/usr/bin/env bash
# Set-up for `sam local invoke` on a machine with no image registry (`make local-invoke` runs it).
#
# What it installs, once (each step checks first, so running it again changes nothing):
#   1. Debian packages docker.io and debootstrap, with what they depend on (about 250 MB installed).
#   2. A Docker daemon: `dockerd --storage-driver=overlay2`, started here when none answers; its PID is
#      kept in $STATE_DIR/dockerd.pid and `scripts/local-invoke-setup.sh stop` stops that process only.
#   3. A stand-in for the Lambda base image public.ecr.aws/lambda/python:3.13-x86_64, which SAM asks for
#      and which cannot be pulled here: a minimal Debian bookworm root (debootstrap, from the apt repository
#      this machine is configured with), pyenv's CPython 3.13 as /var/lang, awslambdaric and boto3
#      (scripts/lambda-python-base.txt) and the entry points the real image has (about 350 MB as an image).
#      It is rebuilt only when this script or that list changes (the image carries their hash as a label).
# It prints the disk each part takes at the end. Needs root (apt-get, dockerd, debootstrap).
#
# Usage: scripts/local-invoke-setup.sh [stop]
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
STATE_DIR="${CPCTL_LOCAL_INVOKE_STATE:-/var/lib/cpctl-local-invoke}"
IMAGE="public.ecr.aws/lambda/python:3.13-x86_64"
PACKAGES=(docker.io debootstrap)
# Shared libraries CPython's extension modules load (ssl, ctypes, sqlite3, uuid, readline, bz2, lzma, ...).
ROOTFS_PACKAGES="ca-certificates,libssl3,libffi8,libsqlite3-0,zlib1g,libbz2-1.0,liblzma5,libexpat1,libuuid1,libreadline8,libncursesw6,libgdbm6,libgdbm-compat4,tzdata"
PYTHON_VERSION=3.13

say() { printf '[local-invoke-setup] %s\n' "$*"; }
fail() { printf '[local-invoke-setup] FAILED: %s\n' "$*" >&2; exit 1; }

docker_answers() { timeout 10 docker info >/dev/null 2>&1; }

stop_daemon() {
    local pidfile="$STATE_DIR/dockerd.pid"
    if [[ -f "$pidfile" ]]; then
        local pid
        pid="$(cat "$pidfile")"
        if [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == dockerd ]]; then
            say "stopping dockerd (PID $pid, started by this script)"
            kill "$pid"
            for _ in $(seq 1 60); do [[ -d "/proc/$pid" ]] || break; sleep 0.5; done
        fi
        rm -f "$pidfile"
    else
        say "no dockerd started by this script is running"
    fi
}

if [[ "${1:-}" == stop ]]; then
    stop_daemon
    exit 0
fi
[[ "$(id -u)" == 0 ]] || fail "run as root: it installs Debian packages, starts dockerd and runs debootstrap"
mkdir -p "$STATE_DIR"
# One set-up at a time on a machine (CI, several worktrees).
exec 9>"$STATE_DIR/setup.lock"
flock 9
started=$(date +%s)

# --- 1. Debian packages ------------------------------------------------------------------------------
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
for package in "${PACKAGES[@]}"; do installed "$package" || missing+=("$package"); done
if ((${#missing[@]})); then
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >"$STATE_DIR/apt.log" 2>&1; then
        apt-get update -q >>"$STATE_DIR/apt.log" 2>&1 || true
        apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$STATE_DIR/apt.log" 2>&1 ||
            fail "apt-get install ${missing[*]}: $(tail -5 "$STATE_DIR/apt.log")"
    fi
else
    say "Debian packages present: ${PACKAGES[*]}"
fi

# --- 2. Docker daemon -----------------------------------------------------------------------------------
if docker_answers; then
    say "a Docker daemon answers"
else
    say "starting dockerd (log: $STATE_DIR/dockerd.log)"
    setsid dockerd --storage-driver=overlay2 --pidfile "$STATE_DIR/dockerd.pid" \
        >"$STATE_DIR/dockerd.log" 2>&1 </dev/null 9>&- &
    for _ in $(seq 1 60); do docker_answers && break; sleep 1; done
    docker_answers || fail "Docker cannot start on this machine: $(tail -5 "$STATE_DIR/dockerd.log")"
fi
# The bridge's own address is the gateway containers reach the host on (Docker 20.10 leaves it out of IPAM).
bridge="$(docker network inspect bridge --format '{{index .Options "com.docker.network.bridge.name"}}' 2>/dev/null || true)"
gateway="$(ip -4 -o addr show "${bridge:-docker0}" 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | head -1)"
[[ -n "$gateway" ]] || fail "Docker has no bridge network: containers could not reach the sandbox"

# --- 3. The stand-in Lambda base image -------------------------------------------------------------------
# The CPython copied into the image: pyenv's, else whichever python3.13 is on PATH (a venv's base).
python_prefix() {
    local prefix
    prefix="$(pyenv prefix "$PYTHON_VERSION" 2>/dev/null || true)"
    if [[ ! -x "$prefix/bin/python$PYTHON_VERSION" ]] && command -v "python$PYTHON_VERSION" >/dev/null; then
        prefix="$("python$PYTHON_VERSION" -c 'import sys; print(sys.base_prefix)')"
    fi
    [[ -x "$prefix/bin/python$PYTHON_VERSION" ]] ||
        fail "no CPython $PYTHON_VERSION (pyenv prefix $PYTHON_VERSION, or python$PYTHON_VERSION on PATH) to copy"
    echo "$prefix"
}

build_image() {
    python_prefix="$(python_prefix)"
    python="$python_prefix/bin/python$PYTHON_VERSION"
    mirror="$(apt-get indextargets --format '$(REPO_URI)' 'Release: bookworm' 'Created-By: Packages' \
        'Component: main' | head -1)"
    [[ -n "$mirror" ]] || fail "no bookworm main repository in this machine's apt sources (debootstrap needs one)"
    work="$(mktemp -d /var/tmp/cpctl-lambda-base.XXXXXX)"
    trap 'rm -rf "$work"' EXIT
    rootfs="$work/rootfs"
    say "debootstrap --variant=minbase bookworm (from the configured apt repository)"
    mkdir -p "$STATE_DIR/debootstrap-cache"  # downloaded packages, kept for a rebuild
    debootstrap --variant=minbase --include="$ROOTFS_PACKAGES" --cache-dir="$STATE_DIR/debootstrap-cache" \
        bookworm "$rootfs" "$mirror" \
        >"$STATE_DIR/debootstrap.log" 2>&1 || fail "debootstrap: $(tail -5 "$STATE_DIR/debootstrap.log")"
    say "copying CPython from $python_prefix to /var/lang (without its tests and site-packages)"
    mkdir -p "$rootfs/var/lang" "$rootfs/var/runtime" "$rootfs/var/task" "$rootfs/opt"
    tar -C "$python_prefix" --exclude="./lib/python$PYTHON_VERSION/test" \
        --exclude="./lib/python$PYTHON_VERSION/site-packages/*" --exclude='__pycache__' -cf - . |
        tar -C "$rootfs/var/lang" -xf -
    say "installing awslambdaric and boto3 into /var/lang"
    "$python" -m pip install --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        --platform manylinux2014_x86_64 --implementation cp --python-version "$PYTHON_VERSION" \
        --target "$rootfs/var/lang/lib/python$PYTHON_VERSION/site-packages" \
        --root-user-action=ignore --requirement "$REPO/scripts/lambda-python-base.txt" \
        >"$STATE_DIR/pip.log" 2>&1 || fail "pip install into the image: $(tail -5 "$STATE_DIR/pip.log")"
    # The runtime API loop (RIE, added by SAM, runs /var/runtime/bootstrap) and the image's entry point.
    cat >"$rootfs/var/runtime/bootstrap" <<EOF
#!/bin/sh
export PYTHONPATH="/var/task:/opt/python/lib/python$PYTHON_VERSION/site-packages:/opt/python\${PYTHONPATH:+:\$PYTHONPATH}"
exec /var/lang/bin/python$PYTHON_VERSION -m awslambdaric "\$_HANDLER"
EOF
    cat >"$rootfs/lambda-entrypoint.sh" <<'EOF'
#!/bin/sh
if [ $# -ne 1 ]; then
  echo "entrypoint requires the handler name to be the first argument" 1>&2
  exit 142
fi
export _HANDLER="$1"
exec /var/runtime/bootstrap
EOF
    chmod 755 "$rootfs/var/runtime/bootstrap" "$rootfs/lambda-entrypoint.sh"
    rm -rf "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/var/cache/apt/archives/*.deb \
        "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | docker import \
        --change 'ENTRYPOINT ["/lambda-entrypoint.sh"]' \
        --change 'WORKDIR /var/task' \
        --change 'ENV PATH=/var/lang/bin:/usr/local/bin:/usr/bin:/bin:/opt/bin' \
        --change 'ENV LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV TZ=:/etc/localtime' \
        --change 'ENV LAMBDA_TASK_ROOT=/var/task' \
        --change 'ENV LAMBDA_RUNTIME_DIR=/var/runtime' \
        --change "LABEL cpctl.recipe=$recipe" \
        - "$IMAGE" >/dev/null
    docker image prune -f >/dev/null  # the image this one replaced, if any
    docker run --rm --entrypoint "/var/lang/bin/python$PYTHON_VERSION" "$IMAGE" \
        -c 'import awslambdaric, boto3, ssl, sqlite3, ctypes, uuid' ||
        fail "the image's Python cannot import its runtime modules"
}
# The image is rebuilt when what goes into it changes: this function, the package lists, the Python.
recipe="$( (declare -f build_image; echo "$ROOTFS_PACKAGES $PYTHON_VERSION $IMAGE";
    cat "$REPO/scripts/lambda-python-base.txt") | sha256sum | cut -c1-16)"
current="$(docker image inspect "$IMAGE" --format '{{ index .Config.Labels "cpctl.recipe" }}' 2>/dev/null || true)"
if [[ "$current" == "$recipe" ]]; then
    say "image $IMAGE is built (recipe $recipe)"
else
    say "building $IMAGE (recipe $recipe)"
    build_image
fi

# --- What it takes ----------------------------------------------------------------------------------------
package_kb=0
for package in docker.io debootstrap containerd runc tini iptables; do
    size="$(dpkg-query -W -f='${Installed-Size}' "$package" 2>/dev/null || echo 0)"
    package_kb=$((package_kb + ${size:-0}))
done
image_bytes="$(docker image inspect "$IMAGE" --format '{{.Size}}')"
docker_root="$(docker info --format '{{.DockerRootDir}}' 2>/dev/null || echo /var/lib/docker)"
say "disk: Debian packages $((package_kb / 1024)) MB; image $((image_bytes / 1024 / 1024)) MB;" \
    "all of $docker_root $(du -sm "$docker_root" 2>/dev/null | cut -f1) MB"
say "ready in $(($(date +%s) - started)) s: Docker bridge gateway $gateway (containers reach the sandbox there)"
