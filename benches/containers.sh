#!/usr/bin/env bash
# Container benchmarks, oxpod side by side with Podman (when installed) in the same run:
#   `run --rm IMAGE true` (and Podman with --network none), `ps -a` with 20 containers, and the
#   resident memory of one idle per-container monitor against conmon's.
# Podman needs crun, which refuses this host's hybrid cgroup layout while hugetlb sits on the
# v2 mount; the script mounts hugetlb as v1 for the run (as ../shared/PEER.md describes) and
# restores the layout at the end.
# usage: bash benches/containers.sh   (root; builds oxpod in release mode first)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q
OX=$PWD/target/release/oxpod
RUNS=${RUNS:-20}
work=$(mktemp -d)
reg_pid=
mounted_hugetlb=false
cleanup() {
  set +e
  "$OX" --root "$work/ox" --runroot "$work/ox-run" rm -af >/dev/null 2>&1
  if command -v podman >/dev/null; then
    podman --root "$work/pm" --runroot "$work/pm-run" rm -af -t 0 >/dev/null 2>&1
  fi
  [[ -n $reg_pid ]] && kill "$reg_pid" 2>/dev/null
  wait 2>/dev/null
  if $mounted_hugetlb; then
    # The controller returns to the v2 mount only once its v1 hierarchy is gone: no child
    # cgroups (their release is asynchronous) and no mount. Retry until it is back.
    for _ in 1 2 3; do
      find /sys/fs/cgroup/hugetlb -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null
      umount /sys/fs/cgroup/hugetlb 2>/dev/null
      for _ in $(seq 30); do
        grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers && break 2
        sleep 0.1
      done
      mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
    done
    if mountpoint -q /sys/fs/cgroup/hugetlb; then
      find /sys/fs/cgroup/hugetlb -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null
      umount /sys/fs/cgroup/hugetlb
    fi
  fi
  grep -q " $work" /proc/self/mounts && awk -v w="$work" '$2 ~ "^"w {print $2}' /proc/self/mounts | sort -r | xargs -r umount -l
  rm -rf "$work"
}
trap cleanup EXIT

have_podman=false
if command -v podman >/dev/null && command -v crun >/dev/null; then
  have_podman=true
  if grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null; then
    mkdir -p /sys/fs/cgroup/hugetlb
    mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
    mounted_hugetlb=true
  fi
fi

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
python3 benches/mkimage.py "$work/layout" latest 1
skopeo copy -q --dest-tls-verify=false "oci:$work/layout:latest" "docker://$REG/bench/busybox:latest"
cat >"$work/registries.conf" <<CONF
[[registry]]
location = "$REG"
insecure = true
CONF
export CONTAINERS_REGISTRIES_CONF=$work/registries.conf
hard_nofile=$(ulimit -Hn)
# crun refuses nproc at the full hard limit here; Podman's own peer setup uses 32768.
hard_nproc=$(ulimit -Hu)
((hard_nproc > 32768)) && hard_nproc=32768
cat >"$work/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$hard_nofile:$hard_nofile", "nproc=$hard_nproc:$hard_nproc"]
log_driver = "k8s-file"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "crun"
[network]
network_backend = "netavark"
# podman0 would otherwise take 10.88.0.0/16, which oxpod0 already has on this host.
network_config_dir = "$work/pm-networks"
default_subnet = "10.230.0.0/24"
CONF
export CONTAINERS_CONF=$work/containers.conf

ox=("$OX" --root "$work/ox" --runroot "$work/ox-run")
pm=(podman --root "$work/pm" --runroot "$work/pm-run" --storage-driver overlay)
IMG=$REG/bench/busybox:latest
"${ox[@]}" pull -q "$IMG" >/dev/null
$have_podman && "${pm[@]}" pull -q --tls-verify=false "$IMG" >/dev/null

results=$work/results.md
echo "| operation | oxpod median | podman median | ratio |" >"$results"
echo "|---|---|---|---|" >>"$results"
median() { python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results']; print(' '.join('%.2f' % (x['median']*1000) for x in r))" "$1"; }
bench() { # name, oxpod command, podman command
  local args=(-N --style none --warmup 3 --runs "$RUNS" --export-json "$work/h.json" "$2")
  $have_podman && args+=("$3")
  hyperfine "${args[@]}" >/dev/null 2>&1
  read -r ox_ms pm_ms <<<"$(median "$work/h.json")"
  local ratio=-
  if $have_podman; then ratio=$(python3 -c "print('%.2fx' % ($ox_ms/$pm_ms))"); else pm_ms=-; fi
  echo "| $1 | $ox_ms ms | $pm_ms ms | $ratio |" >>"$results"
}
OXS="${ox[*]}"; PMS="${pm[*]}"
bench "run --rm IMAGE true" "$OXS run --rm $IMG true" "$PMS run --rm $IMG true"
bench "run --rm IMAGE true (podman --network none)" "$OXS run --rm --network none $IMG true" "$PMS run --rm --network none $IMG true"

for i in $(seq 20); do
  "${ox[@]}" create --name "c$i" "$IMG" true >/dev/null
  $have_podman && "${pm[@]}" create --name "c$i" "$IMG" true >/dev/null
done
bench "ps -a, 20 containers" "$OXS ps -a" "$PMS ps -a"

# Idle supervisor memory: one sleeping container each, read after both have idled a while
# (an oxpod monitor sheds its start-up pages after one idle second).
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
"${ox[@]}" run -d --name idle "$IMG" sleep 600 >/dev/null
mon=$("${ox[@]}" inspect --format '{{.State.ConmonPid}}' idle)
$have_podman && "${pm[@]}" run -d --name idle "$IMG" sleep 600 >/dev/null
sleep 3
ox_rss=$(rss_kib "$mon")
line="| idle monitor RSS | $ox_rss KiB |"
if $have_podman; then
  conmon=$("${pm[@]}" inspect --format '{{.State.ConmonPid}}' idle)
  pm_rss=$(rss_kib "$conmon")
  line="$line $pm_rss KiB (conmon) | $(python3 -c "print('%.2fx' % ($ox_rss/$pm_rss))") |"
else
  line="$line - | - |"
fi
echo "$line" >>"$results"
cat "$results"
