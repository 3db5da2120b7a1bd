#!/usr/bin/env bash
# Build longhaul-gateway and longhaul-worker with podman from Dockerfile.gateway
# and Dockerfile.worker exactly as they are in the repository (the same files
# the kind workflow builds with docker), then the example project's image
# (examples/acme-jobs/Dockerfile, FROM the worker image). See scripts/images/README.md.
#
#   bash scripts/images/build.sh                      # base (if missing) + both images
#   bash scripts/images/build.sh --variant FILE TAG   # base (if missing) + one image from FILE
#
# ─── About the base image ────────────────────────────────────────────────────
# Both Dockerfiles start FROM the official python:<X.Y>-slim-<suite> image. A
# normal machine simply pulls it, and so does this script when it can. These
# machines cannot reach any container registry, so when the pull fails the
# script makes a LOCAL STAND-IN and tags it with the exact name the FROM lines
# use (parsed from them):
#   debootstrap --variant=minbase <suite>  +  the host's CPython <X.Y> (pyenv),
#   laid out as the official image has it (/usr/local/bin/python3.X, python3,
#   python, pip, pip3; libpython in /usr/local/lib; stripped; no test suite, no
#   bytecode caches), with the official image's PATH, LANG=C.UTF-8,
#   PYTHON_VERSION and CMD, imported with `podman import --change ...`.
# It is NOT the official image (patch version, build flags and Debian package
# set differ) and exists only because registries are out of reach here. It
# carries the label io.longhaul.base.stand-in=true, which the images built on
# it inherit. The rootfs and the assembled base are cached as tarballs in
# .tools/images/; the whole step is skipped when the base image exists.
# ─────────────────────────────────────────────────────────────────────────────
#
# Network inside the build (only in this script; the Dockerfiles are untouched):
# the build stages (pip install uv, uv sync) run first on their own
# (`--target builder`) with the host network, the host CA bundle bind-mounted
# over the image's (the sandbox intercepts TLS), and a pip.conf / uv.toml
# bind-mounted to send pip to https://pypi.org/simple with that bundle and uv to
# the system certificates. The host's own pip configuration (local wheel dirs)
# is never seen by the build. Then the whole Dockerfile is built with
# `--network none` and no mounts: the build stages come from the layer cache and
# the runtime stage gets no mount-point leftovers (buildah leaves an empty file
# where it mounted one the image lacks).
#
# Environment:
#   IMAGE_TAG             tag of the built images (default: the chart's appVersion)
#   LONGHAUL_BASE_PYTHON  prefix of the CPython to put in the stand-in base
#                         (default: the newest pyenv $PYENV_ROOT/versions/X.Y.*)
#   DEBIAN_MIRROR         debootstrap mirror (default http://deb.debian.org/debian)
#   LONGHAUL_BASE_SOURCE  auto (default): use the base if present, else pull it, else
#                         make the stand-in; pull: never the stand-in; stand-in: never pull
#   LONGHAUL_REBUILD_BASE=1  rebuild the stand-in base even if it exists
#   HOST_CA_BUNDLE        CA bundle mounted into the build (default /etc/ssl/certs/ca-certificates.crt)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

CACHE=$ROOT/.tools/images            # git-ignored: rootfs tarballs, containers.conf
CONTAINERS_CONF_FILE=$CACHE/containers.conf
PODMAN_RUN_FLAGS=(--runtime runc --ulimit nofile=20000:20000 --ulimit nproc=1000:1000)
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
HOST_CA_BUNDLE=${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
DEB_INCLUDE=ca-certificates,netbase,tzdata,libssl3,libffi8,libsqlite3-0,zlib1g,libbz2-1.0,liblzma5,libreadline8,libncursesw6,libuuid1,libgdbm6,libexpat1
STAND_IN_NOTE="Local stand-in for the official image, built by scripts/images/build.sh only because no registry is reachable; a normal machine pulls the official image."

log() { printf 'images: %s\n' "$*" >&2; }
die() { printf 'images: ERROR: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ── 1. tools ────────────────────────────────────────────────────────────────
ensure_tools() {
  local pkgs=(podman buildah runc debootstrap uidmap fuse-overlayfs slirp4netns) missing=() p
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get: install podman, buildah, runc, debootstrap yourself"
    local sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo)
    log "installing ${missing[*]} (apt-get)"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  # podman on these machines works only with runc and explicit ulimits.
  mkdir -p "$CACHE"
  cat >"$CONTAINERS_CONF_FILE" <<'EOF'
# Written by scripts/images/build.sh: podman on these machines needs runc and
# explicit ulimits (crun and the default nproc limit fail here).
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=1000:1000"]

[engine]
runtime = "runc"
EOF
  export CONTAINERS_CONF=$CONTAINERS_CONF_FILE
}

# ── 2. the base image name, from the FROM lines ─────────────────────────────
from_images() {  # every image named by a FROM line (flags like --platform skipped)
  awk 'toupper($1) == "FROM" { for (i = 2; i <= NF; i++) if ($i !~ /^--/) { print $i; break } }' "$@" | sort -u
}

qualify() {  # docker's normalisation: python:3.12 -> docker.io/library/python:3.12
  local name=$1 first=${1%%/*}
  if [[ $name != */* ]]; then
    echo "docker.io/library/$name"
  elif [[ $first != *.* && $first != *:* && $first != localhost ]]; then
    echo "docker.io/$name"
  else
    echo "$name"
  fi
}

# ── 3. a CPython X.Y to put in the stand-in ─────────────────────────────────
find_python_prefix() {  # $1 = X.Y; the newest plain CPython X.Y.Z under pyenv
  local want=$1 cand best
  if [ -n "${LONGHAUL_BASE_PYTHON:-}" ]; then
    echo "$LONGHAUL_BASE_PYTHON"; return
  fi
  best=$(for cand in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$want".*; do
           [[ $(basename "$cand") =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || continue
           [ -x "$cand/bin/python$want" ] && [ -f "$cand/lib/python$want/os.py" ] && echo "$cand"
         done | sort -V | tail -n1)
  [ -n "$best" ] || die "no CPython $want found (pyenv versions $want.*); set LONGHAUL_BASE_PYTHON=<prefix>"
  echo "$best"
}

debian_rootfs_tar() {  # $1 = suite; prints the cached tarball path, debootstraps on a miss
  local suite=$1 tar dir t0
  tar=$CACHE/debian-$suite-minbase.tar
  if [ -s "$tar" ]; then echo "$tar"; return; fi
  dir=$(mktemp -d "$CACHE/rootfs.XXXXXX")
  log "debootstrap $suite (minbase) from $DEBIAN_MIRROR"
  t0=$(now)
  debootstrap --variant=minbase --include="$DEB_INCLUDE" "$suite" "$dir" "$DEBIAN_MIRROR" \
    >"$CACHE/debootstrap.log" 2>&1 || { tail -n 20 "$CACHE/debootstrap.log" >&2; rm -rf "$dir"; die "debootstrap failed (log: $CACHE/debootstrap.log)"; }
  # What debian:<suite>-slim leaves out: package lists, caches, logs, docs.
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/* "$dir"/var/cache/debconf/*-old \
         "$dir"/var/log/* "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/etc/resolv.conf
  find "$dir"/usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
  : >"$dir"/etc/hostname
  tar --numeric-owner -C "$dir" -cf "$tar.part" \
      --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' --exclude='./run/*' --exclude='./tmp/*' .
  mv "$tar.part" "$tar"
  rm -rf "$dir"
  log "debootstrap done in $(since "$t0")s, cached $tar ($(du -h "$tar" | cut -f1))"
  echo "$tar"
}

install_python() {  # $1 = CPython prefix, $2 = rootfs, $3 = X.Y
  local src=$1 root=$2 xy=$3 local_dir f dropped=()
  local_dir=$root/usr/local
  mkdir -p "$local_dir"/bin "$local_dir"/lib "$local_dir"/include
  # stdlib without site-packages (a fresh pip comes from ensurepip), tests or caches
  tar -C "$src" -cf - \
      --exclude="lib/python$xy/site-packages/*" --exclude='__pycache__' --exclude='*.pyc' \
      --exclude='*.pyo' --exclude='libpython*.a' \
      "lib/python$xy" "include/python$xy" lib/pkgconfig \
    | tar -C "$local_dir" -xf -
  cp -a "$src"/lib/libpython3*.so* "$local_dir"/lib/
  cp -a "$src/bin/python$xy" "$src/bin/python$xy-config" "$local_dir"/bin/
  for f in "pydoc$xy" "idle$xy" "2to3-$xy"; do
    [ -e "$src/bin/$f" ] && cp -a "$src/bin/$f" "$local_dir"/bin/
  done
  # The build prefix is baked into scripts, sysconfig data and the config dir.
  grep -rlI --null -F "$src" "$local_dir"/bin "$local_dir"/lib/pkgconfig \
      "$local_dir/lib/python$xy"/_sysconfigdata*.py "$local_dir/lib/python$xy"/config-* 2>/dev/null \
    | xargs -0 -r sed -i "s#$src#/usr/local#g"
  # The official build links with --strip-all; pyenv's carries debug info.
  if command -v strip >/dev/null; then
    find "$local_dir"/bin "$local_dir"/lib -type f \( -name "python$xy" -o -name '*.so' -o -name '*.so.*' \) \
      -exec strip --strip-all '{}' +
  else
    log "no strip on this host: the stand-in keeps the interpreter's debug info (bigger, not slower)"
  fi
  # The symlinks the official image has.
  ln -sf "python$xy" "$local_dir"/bin/python3
  ln -sf python3 "$local_dir"/bin/python
  ln -sf "python$xy-config" "$local_dir"/bin/python3-config
  ln -sf python3-config "$local_dir"/bin/python-config
  [ -e "$local_dir/bin/pydoc$xy" ] && ln -sf "pydoc$xy" "$local_dir"/bin/pydoc3 && ln -sf pydoc3 "$local_dir"/bin/pydoc
  [ -e "$local_dir/bin/idle$xy" ] && ln -sf "idle$xy" "$local_dir"/bin/idle3 && ln -sf idle3 "$local_dir"/bin/idle
  # libpython lives in /usr/local/lib (the binary's RPATH names the pyenv dir,
  # which does not exist in the image): the dynamic linker cache finds it.
  echo /usr/local/lib >"$root"/etc/ld.so.conf.d/usr-local.conf
  chroot "$root" /sbin/ldconfig
  # Extension modules whose libraries the slim rootfs lacks (e.g. _tkinter) go.
  for f in "$local_dir/lib/python$xy"/lib-dynload/*.so; do
    if chroot "$root" /usr/bin/ldd "${f#"$root"}" 2>/dev/null | grep -q 'not found'; then
      dropped+=("$(basename "$f")"); rm -f "$f"
    fi
  done
  ((${#dropped[@]})) && log "dropped extension modules with missing libraries: ${dropped[*]}"
  # pip, pip3, pip3.X from the interpreter's own bundled wheel (offline).
  chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 \
    /usr/local/bin/python3 -m ensurepip --default-pip >/dev/null
  # As the official image does: no test suites, no bytecode caches, no static lib.
  find "$local_dir" -depth \
    \( \( -type d -a \( -name test -o -name tests -o -name idle_test -o -name __pycache__ \) \) \
       -o \( -type f -a \( -name '*.pyc' -o -name '*.pyo' -o -name 'libpython*.a' \) \) \) \
    -exec rm -rf '{}' +
}

ensure_base() {  # $1 = base image name as written in FROM
  local from=$1 ref xy suite src version rootfs_tar dir tar t0 kind source=${LONGHAUL_BASE_SOURCE:-auto}
  ref=$(qualify "$from")
  t0=$(now)
  if [ "${LONGHAUL_REBUILD_BASE:-0}" != 1 ] && podman image exists "$ref"; then
    kind=official
    podman image inspect -f '{{json .Labels}}' "$ref" | grep -q '"io.longhaul.base.stand-in":"true"' \
      && kind="local stand-in"
    BASE_HOW="present ($kind)"
    log "base $ref present ($kind)"
    return
  fi
  # A machine that can reach the registry uses the official image.
  if [ "$source" != stand-in ] && [ "${LONGHAUL_REBUILD_BASE:-0}" != 1 ]; then
    log "pulling $ref"
    if timeout 300 podman pull --quiet "$ref" >/dev/null 2>"$CACHE/pull.log"; then
      BASE_S=$(since "$t0"); BASE_HOW="pulled (official)"
      return
    fi
    [ "$source" = pull ] && die "cannot pull $ref: $(tail -n1 "$CACHE/pull.log")"
    log "cannot pull $ref ($(tail -n1 "$CACHE/pull.log" | cut -c1-160))"
    log "making a LOCAL STAND-IN for it instead (see the top of this script)"
  fi
  if [[ ! $from =~ ^(docker\.io/)?(library/)?python:([0-9]+\.[0-9]+)(\.[0-9]+)?-slim-([a-z]+)$ ]]; then
    die "FROM $from: only python:<X.Y>-slim-<suite> bases can be stood in for"
  fi
  xy=${BASH_REMATCH[3]}; suite=${BASH_REMATCH[5]}
  [ "$(id -u)" = 0 ] || die "run as root: the stand-in base needs debootstrap and chroot"
  src=$(find_python_prefix "$xy")
  version=$("$src/bin/python$xy" -c 'import platform; print(platform.python_version())')
  tar=$CACHE/base-python$version-$suite.tar
  BASE_HOW="imported from the cached $(basename "$tar")"
  if [ "${LONGHAUL_REBUILD_BASE:-0}" = 1 ] || [ ! -s "$tar" ]; then
    BASE_HOW="assembled (debootstrap tarball $([ -s "$CACHE/debian-$suite-minbase.tar" ] && echo cached || echo downloaded))"
    rootfs_tar=$(debian_rootfs_tar "$suite")
    log "stand-in base: Debian $suite minbase + CPython $version from $src"
    dir=$(mktemp -d "$CACHE/base.XXXXXX")
    tar -C "$dir" -xf "$rootfs_tar"
    install_python "$src" "$dir" "$xy"
    tar --numeric-owner -C "$dir" -cf "$tar.part" \
        --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' .
    mv "$tar.part" "$tar"
    rm -rf "$dir"
  fi
  log "importing $tar as $ref (LOCAL STAND-IN, not the official image)"
  podman import --quiet \
    --message "$STAND_IN_NOTE" \
    --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change "ENV PYTHON_VERSION=$version" \
    --change 'CMD ["python3"]' \
    --change 'LABEL io.longhaul.base.stand-in=true' \
    --change "LABEL io.longhaul.base.note=\"$STAND_IN_NOTE\"" \
    "$tar" "$ref" >/dev/null
  # The interpreter and the modules the services need must work in the image.
  podman run --rm --network none "${PODMAN_RUN_FLAGS[@]}" "$ref" python -c '
import bz2, ctypes, hashlib, lzma, sqlite3, ssl, sys, uuid, zlib, readline, pyexpat, decimal
print(sys.version.split()[0], sys.prefix, ssl.OPENSSL_VERSION)' >&2 \
    || die "the stand-in base does not run python"
  podman run --rm --network none "${PODMAN_RUN_FLAGS[@]}" "$ref" pip3 --version >&2
  BASE_S=$(since "$t0")
  log "base $ref ready in ${BASE_S}s"
}

# ── 4. the images ───────────────────────────────────────────────────────────
stage_names() {  # names of every stage but the last (FROM ... AS <name>)
  awk 'toupper($1) == "FROM" { n++; name[n] = (toupper($(NF-1)) == "AS") ? $NF : "" }
       END { for (i = 1; i < n; i++) if (name[i] != "") print name[i] }' "$1"
}

build_image() {  # $1 = Dockerfile, $2.. = tags
  local file=$1 t0 tags=() t stage cfg=$CACHE/build-config
  shift
  for t in "$@"; do tags+=(--tag "$t"); done
  mkdir -p "$cfg"
  cat >"$cfg/pip.conf" <<'EOF2'
[global]
index-url = https://pypi.org/simple
cert = /etc/ssl/certs/ca-certificates.crt
EOF2
  printf 'native-tls = true\n' >"$cfg/uv.toml"
  t0=$(now)
  # Pass 1: the build stages (pip, uv sync), with PyPI reachable: host network,
  # the host CA bundle and the pip/uv configuration bind-mounted. Buildah
  # leaves an empty file where it mounted one that the image lacks
  # (/etc/pip.conf, /etc/uv/uv.toml), so the mounts are kept out of pass 2.
  for stage in $(stage_names "$file"); do
    log "podman build -f $file --target $stage (network, host CA bundle mounted)"
    podman build --pull=never --layers --network host "${PODMAN_RUN_FLAGS[@]}" \
      --volume "$HOST_CA_BUNDLE:/etc/ssl/certs/ca-certificates.crt:ro" \
      --volume "$cfg/pip.conf:/etc/pip.conf:ro" \
      --volume "$cfg/uv.toml:/etc/uv/uv.toml:ro" \
      --target "$stage" --tag "longhaul-build-cache:$stage" \
      --file "$file" . >&2
  done
  # Pass 2: the whole Dockerfile with no network and no mounts; the build
  # stages come from the layer cache of pass 1, the runtime stage is clean.
  log "podman build -f $file ${*} (no network, no mounts)"
  podman build --pull=never --layers --network none "${PODMAN_RUN_FLAGS[@]}" \
    --file "$file" "${tags[@]}" . >&2
  BUILD_S[$1]=$(since "$t0")
  log "built $file as $1 in ${BUILD_S[$1]}s"
}

EXAMPLE_DIR=examples/acme-jobs
build_example() {  # $1 = tag: the example project's image, FROM the worker image just built
  local t0
  t0=$(now)
  # Its own context (the example project), no network: everything it adds is
  # in the project; its FROM is the local worker image (--pull=never).
  log "podman build -f $EXAMPLE_DIR/Dockerfile FROM longhaul-worker:$1 (no network, no mounts)"
  podman build --pull=never --layers --network none "${PODMAN_RUN_FLAGS[@]}" \
    --build-arg "LONGHAUL_IMAGE=longhaul-worker:$1" \
    --file "$EXAMPLE_DIR/Dockerfile" --tag "longhaul-acme-jobs:$1" --tag longhaul-acme-jobs:latest \
    "$EXAMPLE_DIR" >&2
  BUILD_S[longhaul-acme-jobs:$1]=$(since "$t0")
  log "built $EXAMPLE_DIR/Dockerfile as longhaul-acme-jobs:$1 in ${BUILD_S[longhaul-acme-jobs:$1]}s"
}

BASE_HOW="" BASE_S=0
declare -A BUILD_S=()

record_times() {  # .tools/images/last-build.json: read by the smoke report
  local total=$1 k sep=""
  {
    printf '{"finished": "%s", "base": "%s", "base_s": %s, "total_s": %s, "images": {' \
      "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$BASE_HOW" "$BASE_S" "$total"
    for k in "${!BUILD_S[@]}"; do printf '%s"%s": %s' "$sep" "$k" "${BUILD_S[$k]}"; sep=", "; done
    printf '}}\n'
  } >"$CACHE/last-build.json"
}

main() {
  local t0 tag froms
  t0=$(now)
  ensure_tools
  [ -r "$HOST_CA_BUNDLE" ] || die "no CA bundle at $HOST_CA_BUNDLE"
  tag=${IMAGE_TAG:-$(sed -n 's/^appVersion:[[:space:]]*"\{0,1\}\([^"]*\)"\{0,1\}[[:space:]]*$/\1/p' charts/longhaul/Chart.yaml)}
  [ -n "$tag" ] || die "no image tag (IMAGE_TAG or the chart's appVersion)"
  if [ "${1:-}" = --variant ]; then
    [ $# = 3 ] || die "usage: build.sh --variant DOCKERFILE TAG"
    froms=$(from_images "$2")
    [ "$(wc -l <<<"$froms")" = 1 ] || die "$2 must use one base image, found: $froms"
    ensure_base "$froms"
    build_image "$2" "$3"
  else
    [ $# = 0 ] || die "usage: build.sh [--variant DOCKERFILE TAG]"
    froms=$(from_images Dockerfile.gateway Dockerfile.worker)
    [ "$(wc -l <<<"$froms")" = 1 ] || die "the Dockerfiles must share one base image, found: $froms"
    ensure_base "$froms"
    build_image Dockerfile.gateway "longhaul-gateway:$tag" longhaul-gateway:latest
    build_image Dockerfile.worker "longhaul-worker:$tag" longhaul-worker:latest
    build_example "$tag"
    podman image ls --filter reference='longhaul-*' >&2
    record_times "$(since "$t0")"
  fi
  log "done in $(since "$t0")s"
}

main "$@"
