#!/usr/bin/env bash
# Image benchmarks, oxpod side by side with Podman (when installed) in the same run:
#   version, `rmi` + `pull` of a 1-layer busybox image and of a 5-layer image from a local
#   registry, and `images` with 100 images. Prints medians (hyperfine) and peak RSS.
# usage: bash benches/images.sh   (root; builds oxpod in release mode first)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q
OX=$PWD/target/release/oxpod
RUNS=${RUNS:-20}
work=$(mktemp -d)
reg_pid=
cleanup() { [[ -n $reg_pid ]] && kill "$reg_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/registry.yml" <<YML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: 127.0.0.1:$port}
YML
docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
reg_pid=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
REG=127.0.0.1:$port
for spec in "busybox 1" "five 5"; do
  set -- $spec
  python3 benches/mkimage.py "$work/layout-$1" latest "$2"
  skopeo copy -q --dest-tls-verify=false "oci:$work/layout-$1:latest" "docker://$REG/bench/$1:latest"
done
cat >"$work/registries.conf" <<CONF
[[registry]]
location = "$REG"
insecure = true
CONF
export CONTAINERS_REGISTRIES_CONF=$work/registries.conf
cat >"$work/containers.conf" <<CONF
[engine]
events_logger = "file"
cgroup_manager = "cgroupfs"
CONF
export CONTAINERS_CONF=$work/containers.conf

ox=("$OX" --root "$work/ox" --runroot "$work/ox-run")
pm=(podman --root "$work/pm" --runroot "$work/pm-run" --storage-driver overlay)
have_podman=false
command -v podman >/dev/null && have_podman=true

results=$work/results.md
echo "| operation | oxpod median | podman median | ratio | oxpod peak RSS | podman peak RSS |" >"$results"
echo "|---|---|---|---|---|---|" >>"$results"

median() { python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results']; print(' '.join('%.2f' % (x['median']*1000) for x in r))" "$1"; }
rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }

bench() { # name, oxpod command, podman command, prepare-oxpod, prepare-podman
  local name=$1 oxc=$2 pmc=$3 oxp=${4:-true} pmp=${5:-true}
  local args=(-N --style none --warmup 2 --runs "$RUNS" --export-json "$work/h.json" --prepare "$oxp" "$oxc")
  if $have_podman; then args+=(--prepare "$pmp" "$pmc"); fi
  hyperfine "${args[@]}" >/dev/null 2>&1
  read -r ox_ms pm_ms <<<"$(median "$work/h.json")"
  eval "$oxp" >/dev/null 2>&1
  local ox_rss pm_rss="-" ratio="-"
  ox_rss=$(rss bash -c "$oxc")
  if $have_podman; then
    eval "$pmp" >/dev/null 2>&1
    pm_rss=$(rss bash -c "$pmc")
    ratio=$(python3 -c "print('%.2fx' % ($ox_ms/$pm_ms))")
    pm_rss="$((pm_rss / 1024)) MiB"
  else
    pm_ms="-"
  fi
  echo "| $name | $ox_ms ms | $pm_ms ms | $ratio | $((ox_rss / 1024)) MiB | $pm_rss |" >>"$results"
}

OXS="${ox[*]}"; PMS="${pm[*]}"
bench "version" "$OXS version" "$PMS version"
bench "rmi + pull busybox (1 layer)" \
  "$OXS pull -q $REG/bench/busybox:latest" "$PMS pull -q --tls-verify=false $REG/bench/busybox:latest" \
  "$OXS rmi -a -f" "$PMS rmi -a -f"
bench "rmi + pull 5 layers" \
  "$OXS pull -q $REG/bench/five:latest" "$PMS pull -q --tls-verify=false $REG/bench/five:latest" \
  "$OXS rmi -a -f" "$PMS rmi -a -f"

# 100 images: one small distinct rootfs each, imported into both stores.
"${ox[@]}" rmi -a -f >/dev/null; $have_podman && "${pm[@]}" rmi -a -f >/dev/null
for i in $(seq 100); do
  mkdir -p "$work/rootfs$i"; echo "$i" >"$work/rootfs$i/id"
  tar -C "$work/rootfs$i" -cf "$work/rootfs$i.tar" .
  "${ox[@]}" import -q "$work/rootfs$i.tar" "localhost/img$i" >/dev/null
  $have_podman && "${pm[@]}" import -q "$work/rootfs$i.tar" "localhost/img$i" >/dev/null
done
bench "images, 100 images" "$OXS images" "$PMS images"

cat "$results"
