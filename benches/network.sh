#!/usr/bin/env bash
# Network benchmarks, oxpod side by side with Podman (when installed) in the same run:
#   `pod create` + `pod rm -f` with and without a published port (and with `pod start`, which
#   is when Podman sets its network up); `run -d -p` of a busybox httpd until the first HTTP
#   response through the published port, then `rm -f`; 1 GiB over TCP from the host through a
#   published port to a sink inside a pod (oxpod's userspace proxy against Podman's DNAT), and
#   straight to the pod's address for reference; the idle and peak RSS of oxpod's port proxy.
# Podman runs with its own --root/--runroot, network config dir and default subnet
# (10.231.0.0/24, so its podman0 does not overlap oxpod0's 10.88.0.0/16). It needs crun, which
# refuses this host's hybrid cgroup layout while hugetlb sits on the v2 mount; the script mounts
# hugetlb as v1 for the run (as ../shared/PEER.md describes) and restores the layout at the end.
# Everything listens on 127.0.0.1 or inside the pods' namespaces.
# usage: bash benches/network.sh   (root; builds oxpod in release mode first)
#   RUNS (pod create/rm, default 30), HTTP_RUNS (default 15), XFER_RUNS (default 3),
#   XFER_MIB (default 1024)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q
OX=$PWD/target/release/oxpod
RUNS=${RUNS:-30}
HTTP_RUNS=${HTTP_RUNS:-15}
XFER_RUNS=${XFER_RUNS:-3}
XFER_MIB=${XFER_MIB:-1024}
work=$(mktemp -d)
sink_pids=()
mounted_hugetlb=false
had_podman0=false
ip link show podman0 >/dev/null 2>&1 && had_podman0=true
cleanup() {
  set +e
  "$OX" --root "$work/ox" --runroot "$work/ox-run" pod rm -af >/dev/null 2>&1
  "$OX" --root "$work/ox" --runroot "$work/ox-run" rm -af >/dev/null 2>&1
  "$OX" --root "$work/ox" --runroot "$work/ox-run" network rm oxbench >/dev/null 2>&1
  if command -v podman >/dev/null; then
    podman --root "$work/pm" --runroot "$work/pm-run" pod rm -af -t 0 >/dev/null 2>&1
    podman --root "$work/pm" --runroot "$work/pm-run" rm -af -t 0 >/dev/null 2>&1
  fi
  for p in "${sink_pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  # netavark removes podman0 with its last container; make sure a bridge this run made is gone.
  if ! $had_podman0 && ip link show podman0 >/dev/null 2>&1; then ip link del podman0; fi
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
network_config_dir = "$work/pm-networks"
default_subnet = "10.231.0.0/24"
CONF
export CONTAINERS_CONF=$work/containers.conf

ox=("$OX" --root "$work/ox" --runroot "$work/ox-run")
pm=(podman --root "$work/pm" --runroot "$work/pm-run" --storage-driver overlay)
OXS="${ox[*]}"; PMS="${pm[*]}"

# The image: busybox-static with an httpd document root, imported into oxpod and moved to
# Podman through `oxpod save` (so both run the same image ID).
mkdir -p "$work/rootfs/bin" "$work/rootfs/www"
cp /bin/busybox "$work/rootfs/bin/"
for a in sh httpd sleep true cat; do ln -s busybox "$work/rootfs/bin/$a"; done
echo "oxpod network bench" >"$work/rootfs/www/index.html"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
IMG=localhost/bench/httpd:latest
"${ox[@]}" import -q --change 'CMD ["sh"]' "$work/rootfs.tar" "$IMG" >/dev/null
if $have_podman; then
  "${ox[@]}" save -q -o "$work/image.tar" "$IMG"
  "${pm[@]}" load -q -i "$work/image.tar" >/dev/null
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ratio() { python3 -c "print('%.2fx' % ($1/$2))"; }

results=$work/results.md
echo "| operation | oxpod median | podman median | ratio |" >"$results"
echo "|---|---|---|---|" >>"$results"
row() { # name, oxpod value, podman value (or -), unit
  local r=- pmv=-
  if [[ $3 != - ]]; then pmv="$3 $4"; r=$(ratio "$2" "$3"); fi
  echo "| $1 | $2 $4 | $pmv | $r |" >>"$results"
}

# 1. Pod create + rm. hyperfine runs each pair in a shell and subtracts the shell's start-up.
median() { python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results']; print(' '.join('%.2f' % (x['median']*1000) for x in r))" "$1"; }
bench() { # name, oxpod command, podman command
  local args=(--style none --warmup 3 --runs "$RUNS" --export-json "$work/h.json" "$2")
  $have_podman && args+=("$3")
  hyperfine "${args[@]}" >/dev/null 2>"$work/h.err" || { cat "$work/h.err" >&2; return 1; }
  read -r ox_ms pm_ms <<<"$(median "$work/h.json")"
  row "$1" "$ox_ms" "${pm_ms:--}" ms
}
po=$(free_port); pp=$(free_port)
# Podman builds its pause image on its first pod; not part of the measurement.
$have_podman && "${pm[@]}" pod create --name warm >/dev/null && "${pm[@]}" pod rm -f warm >/dev/null
bench "pod create + pod rm -f" \
  "$OXS pod create --name bench >/dev/null && $OXS pod rm -f bench >/dev/null" \
  "$PMS pod create --name bench >/dev/null && $PMS pod rm -f bench >/dev/null"
bench "pod create -p 127.0.0.1:PORT:80 + pod rm -f" \
  "$OXS pod create --name bench -p 127.0.0.1:$po:80 >/dev/null && $OXS pod rm -f bench >/dev/null" \
  "$PMS pod create --name bench -p 127.0.0.1:$pp:80 >/dev/null && $PMS pod rm -f bench >/dev/null"
# Podman sets up the namespace, address and DNAT only when the pod's infra container starts;
# oxpod does all of it (and starts its proxy) in `pod create`, so its `pod start` has nothing to do.
bench "pod create -p + pod start + pod rm -f" \
  "$OXS pod create --name bench -p 127.0.0.1:$po:80 >/dev/null && $OXS pod start bench >/dev/null && $OXS pod rm -f bench >/dev/null" \
  "$PMS pod create --name bench -p 127.0.0.1:$pp:80 >/dev/null && $PMS pod start bench >/dev/null && $PMS pod rm -f -t 0 bench >/dev/null"

# 2. run -d -p httpd: from just before `run` to the first HTTP response through the published
# port (polled every millisecond while `run` is still going), and when `run` returned.
cat >"$work/firstbyte.py" <<'PY'
import socket, subprocess, sys, time
port, cmd = int(sys.argv[1]), sys.argv[2:]
req = b"GET /index.html HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
t0 = time.perf_counter()
proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
returned = None
while True:
    if returned is None and proc.poll() is not None:
        returned = time.perf_counter()
        if proc.returncode:
            sys.exit(f"{cmd[0]} run exited with {proc.returncode}")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            s.sendall(req)
            if s.recv(64).startswith(b"HTTP/1."):
                break
    except OSError:
        pass
    if time.perf_counter() - t0 > 30:
        sys.exit("no HTTP response within 30 s")
    time.sleep(0.001)
first = time.perf_counter()
proc.wait()
if returned is None:
    returned = time.perf_counter()
print("%.2f %.2f" % ((first - t0) * 1000, (returned - t0) * 1000))
PY
http_runs() { # label (ox|pm), port, rm command..., then -- and the engine command
  local label=$1 port=$2; shift 2
  local rmcmd=()
  while [[ $1 != -- ]]; do rmcmd+=("$1"); shift; done
  shift
  for i in $(seq 0 "$HTTP_RUNS"); do # run 0 is a warm-up
    read -r first ret < <(python3 "$work/firstbyte.py" "$port" "$@" run -d --name "h$i" -p "127.0.0.1:$port:80" "$IMG" httpd -f -p 80 -h /www)
    local t=${EPOCHREALTIME/./} # microseconds, without a fork
    "${rmcmd[@]}" "h$i" >/dev/null
    ((i == 0)) || echo "$first $ret $((${EPOCHREALTIME/./} - t))" >>"$work/http-$label"
  done
}
med_col() { python3 -c "import statistics,sys; print('%.2f' % statistics.median(float(l.split()[int(sys.argv[2])]) * float(sys.argv[3]) for l in open(sys.argv[1])))" "$@"; }
http_runs ox "$(free_port)" "${ox[@]}" rm -f -- "${ox[@]}"
$have_podman && http_runs pm "$(free_port)" "${pm[@]}" rm -f -t 0 -- "${pm[@]}"
for c in "1 run -d -p IMAGE httpd: \`run\` returns" "0 run -d -p IMAGE httpd: first HTTP response via the port"; do
  col=${c%% *}; name=${c#* }
  pmv=-; $have_podman && pmv=$(med_col "$work/http-pm" "$col" 1)
  row "$name" "$(med_col "$work/http-ox" "$col" 1)" "$pmv" ms
done
pmv=-; $have_podman && pmv=$(med_col "$work/http-pm" 2 0.001)
row "rm -f of the running httpd (podman -t 0)" "$(med_col "$work/http-ox" 2 0.001)" "$pmv" ms

# 3. 1 GiB from the host to a sink in the pod's network namespace: through the published port
# on 127.0.0.1 and straight to the pod's address on its bridge. The sink answers with the byte
# count after EOF, so the time covers delivery, not just sending.
cat >"$work/sink.py" <<'PY'
import socket, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", int(sys.argv[1])))
srv.listen(8)
open(sys.argv[2], "w").close()
buf = bytearray(1 << 20)
while True:
    conn, _ = srv.accept()
    n = 0
    while k := conn.recv_into(buf):
        n += k
    conn.sendall(str(n).encode())
    conn.close()
PY
cat >"$work/send.py" <<'PY'
import socket, sys, time
host, port, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) << 20
chunk = memoryview(bytearray(256 << 10))
s = socket.create_connection((host, port))
t0 = time.perf_counter()
for _ in range(total // len(chunk)):
    s.sendall(chunk)
s.shutdown(socket.SHUT_WR)
ack = b""
while data := s.recv(64):
    ack += data
secs = time.perf_counter() - t0
if int(ack or 0) != total:
    sys.exit(f"sink got {ack!r} bytes, sent {total}")
print("%.0f" % (total / secs / 1e6))
PY
start_sink() { # netns path, tag
  nsenter --net="$1" python3 "$work/sink.py" 9000 "$work/sink-$2.ready" &
  sink_pids+=($!)
  for _ in $(seq 200); do [[ -e $work/sink-$2.ready ]] && return; sleep 0.01; done
  echo "sink in $1 did not start" >&2; return 1
}
xfer() { # host, port -> median MB/s over XFER_RUNS
  for _ in $(seq "$XFER_RUNS"); do python3 "$work/send.py" "$1" "$2" "$XFER_MIB"; done \
    | python3 -c "import statistics,sys; print('%.0f' % statistics.median(float(l) for l in sys.stdin))"
}
# The oxpod pod gets a network of its own: oxpod0's leases are per --root, so another oxpod root
# on this host may hold the same address there.
"${ox[@]}" network create --subnet 10.232.77.0/24 oxbench >/dev/null
xo=$(free_port)
"${ox[@]}" pod create --name xfer --network oxbench -p "127.0.0.1:$xo:9000" >/dev/null
"${ox[@]}" run -d --pod xfer --name xfer-c "$IMG" sleep 600 >/dev/null
start_sink "$("${ox[@]}" inspect xfer-c --format '{{.NetworkSettings.SandboxKey}}')" ox
ox_ip=$("${ox[@]}" inspect xfer-c --format '{{.NetworkSettings.IPAddress}}')
proxy=$("${ox[@]}" pod inspect xfer | python3 -c 'import json,sys; d=json.load(sys.stdin); d=d[0] if isinstance(d,list) else d; print(d["InfraConfig"]["ProxyPid"])')
sleep 2
proxy_idle=$(awk '/^VmRSS/ {print $2}' "/proc/$proxy/status")
ox_port_mbs=$(xfer 127.0.0.1 "$xo")
ox_direct_mbs=$(xfer "$ox_ip" 9000)
proxy_peak=$(awk '/^VmHWM/ {print $2}' "/proc/$proxy/status")
pm_port_mbs=- pm_direct_mbs=-
if $have_podman; then
  xp=$(free_port)
  "${pm[@]}" pod create --name xfer -p "127.0.0.1:$xp:9000" >/dev/null
  "${pm[@]}" run -d --pod xfer --name xfer-c "$IMG" sleep 600 >/dev/null
  # Podman reports a pod's namespace and address on its infra container.
  infra=$("${pm[@]}" pod inspect xfer --format '{{.InfraContainerID}}')
  start_sink "$("${pm[@]}" inspect "$infra" --format '{{.NetworkSettings.SandboxKey}}')" pm
  pm_ip=$("${pm[@]}" inspect "$infra" --format '{{.NetworkSettings.IPAddress}}')
  pm_port_mbs=$(xfer 127.0.0.1 "$xp")
  pm_direct_mbs=$(xfer "$pm_ip" 9000)
fi
row "$XFER_MIB MiB host -> pod via 127.0.0.1:PORT (oxpod: proxy; podman: DNAT)" "$ox_port_mbs" "$pm_port_mbs" MB/s
row "$XFER_MIB MiB host -> pod address (no port mapping)" "$ox_direct_mbs" "$pm_direct_mbs" MB/s
echo "| oxpod port proxy RSS: idle / peak after the transfers | $proxy_idle KiB / $proxy_peak KiB | - (no proxy process) | - |" >>"$results"
cat "$results"
