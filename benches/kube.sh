#!/usr/bin/env bash
# Kube benchmarks, oxpod side by side with Podman (when installed) in the same run:
#   `kube play` + `kube down` of a Pod with two containers (a busybox httpd with a hostPort on
#   127.0.0.1, and a sleeper), Podman both with `kube down` and with `pod stop -t 0` + `pod rm`;
#   `kube play --wait` of a 10-replica Deployment behind a NodePort Service until every pod is
#   ready, then the first HTTP reply through the node port, then `kube down` (timed apart);
#   Podman's `kube play` of the same file (it publishes the bare containerPort on the host, so
#   replicas 2..n fail) and of the Deployment without `ports` (which runs); `kube generate` of the
#   running Pod; the CLIs' peak RSS.
# Podman runs with its own --root/--runroot, network config dir and default subnet
# (10.234.0.0/24, so its podman0 does not overlap oxpod0's 10.88.0.0/16); the oxpod pods sit on a
# network the script creates (10.232.78.0/24). Podman needs crun, which refuses this host's hybrid
# cgroup layout while hugetlb sits on the v2 mount; the script mounts hugetlb as v1 for the run
# (as ../shared/PEER.md describes) and restores the layout at the end.
# The hostPorts are on 127.0.0.1; oxpod's node port, like a Kubernetes node's, is on 0.0.0.0 (a
# free port in 30000-32767), and so is Podman's publication of the Deployment's containerPort (a
# free ephemeral port).
# usage: bash benches/kube.sh   (root; builds oxpod in release mode first)
#   RUNS (Pod play + down, default 20), DEP_RUNS (Deployment plays, default 10),
#   REPLICAS (default 10), RSS_RUNS (peak RSS samples, default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q
RUNS=${RUNS:-20}
DEP_RUNS=${DEP_RUNS:-10}
REPLICAS=${REPLICAS:-10}
RSS_RUNS=${RSS_RUNS:-3}
work=$(mktemp -d)
OX=$work/oxpod
mounted_hugetlb=false
had_podman0=false
ip link show podman0 >/dev/null 2>&1 && had_podman0=true
cleanup() {
  set +e
  # `kube down` removes the Service (its virtual IP and proxy) as well as the pods.
  for f in "$work"/*-ox.yaml; do
    [[ -e $f ]] && "$OX" --root "$work/ox" --runroot "$work/ox-run" kube down "$f" >/dev/null 2>&1
  done
  "$OX" --root "$work/ox" --runroot "$work/ox-run" pod rm -af >/dev/null 2>&1
  "$OX" --root "$work/ox" --runroot "$work/ox-run" rm -af >/dev/null 2>&1
  "$OX" --root "$work/ox" --runroot "$work/ox-run" network rm kubebench >/dev/null 2>&1
  if command -v podman >/dev/null; then
    podman --root "$work/pm" --runroot "$work/pm-run" pod rm -af -t 0 >/dev/null 2>&1
    podman --root "$work/pm" --runroot "$work/pm-run" rm -af -t 0 >/dev/null 2>&1
  fi
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
# A copy, so a build in this tree during the run does not swap the binary under it.
cp target/release/oxpod "$OX"

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
default_subnet = "10.234.0.0/24"
CONF
export CONTAINERS_CONF=$work/containers.conf

ox=("$OX" --root "$work/ox" --runroot "$work/ox-run")
pm=(podman --root "$work/pm" --runroot "$work/pm-run" --storage-driver overlay)

# The image: busybox-static with an httpd document root, imported into oxpod and moved to
# Podman through `oxpod save` (so both run the same image ID). Podman's kube play, unlike its
# `run`, adds no default PATH, so the image sets one.
mkdir -p "$work/rootfs/bin" "$work/rootfs/www"
cp /bin/busybox "$work/rootfs/bin/"
for a in sh httpd sleep true cat; do ln -s busybox "$work/rootfs/bin/$a"; done
echo "oxpod kube bench" >"$work/rootfs/www/index.html"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
IMG=localhost/bench/httpd:latest
"${ox[@]}" import -q --change 'ENV PATH=/bin' --change 'CMD ["sh"]' "$work/rootfs.tar" "$IMG" >/dev/null
if $have_podman; then
  "${ox[@]}" save -q -o "$work/image.tar" "$IMG"
  "${pm[@]}" load -q -i "$work/image.tar" >/dev/null
fi
# The oxpod pods (and the Service's virtual IP) get a network of their own, away from other
# roots' pods on oxpod0, as in network.sh.
"${ox[@]}" network create --subnet 10.232.78.0/24 kubebench >/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
free_node_port() {
  python3 -c '
import random, socket
for p in random.sample(range(30000, 32768), 2768):
    s = socket.socket()
    try:
        s.bind(("0.0.0.0", p)); print(p); break
    except OSError:
        pass
    finally:
        s.close()'
}
ratio() { python3 -c "r = $1 / $2; print(('%.2fx' if r >= 0.1 else '%.3fx') % r)"; }
med_col() { python3 -c "import statistics,sys; print('%.2f' % statistics.median(float(l.split()[int(sys.argv[2])]) * float(sys.argv[3]) for l in open(sys.argv[1])))" "$@"; }
now_us() { echo "${EPOCHREALTIME/./}"; } # microseconds

results=$work/results.md
echo "| operation | oxpod median | podman median | ratio |" >"$results"
echo "|---|---|---|---|" >>"$results"
row() { # name, oxpod value, podman value (or -), unit
  local r=- pmv=-
  if [[ $3 != - ]]; then pmv="$3 $4"; r=$(ratio "$2" "$3"); fi
  echo "| $1 | $2 $4 | $pmv | $r |" >>"$results"
}

# Both containers exit on SIGTERM (a shell that traps it, its server or sleep in the background),
# so no engine waits out a grace period: httpd or sleep as PID 1 would ignore it.
pod_yaml() { # hostPort
  cat <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: kbpod
  labels:
    app: kbpod
spec:
  containers:
    - name: httpd
      image: $IMG
      imagePullPolicy: Never
      command: ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"]
      ports:
        - containerPort: 8080
          hostPort: $1
          hostIP: 127.0.0.1
    - name: sleeper
      image: $IMG
      imagePullPolicy: Never
      command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
YAML
}
deployment_yaml() { # container port, node port, with ports (true|false), with the probe (true|false)
  cat <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: $REPLICAS
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: httpd
          image: $IMG
          imagePullPolicy: Never
          command: ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p $1 -h /www & wait"]
YAML
  if $3; then
    cat <<YAML
          ports:
            - name: http
              containerPort: $1
YAML
  fi
  if $4; then
    cat <<YAML
          readinessProbe:
            httpGet:
              path: /index.html
              port: $1
            periodSeconds: 1
YAML
  fi
  cat <<YAML
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: NodePort
  selector:
    app: web
  ports:
    - name: http
      port: 80
      targetPort: $1
      nodePort: $2
YAML
}
http_ok() { # port: one GET of /index.html on 127.0.0.1, exit status 0 on a 200
  python3 -c '
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2) as s:
    s.sendall(b"GET /index.html HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    sys.exit(0 if s.recv(64).split(b"\r\n")[0].split()[1:2] == [b"200"] else 1)' "$1"
}
# Podman prints "failed to connect to syslog" on stderr; show a command's stderr only when it fails.
quiet() { "$@" >/dev/null 2>"$work/last.err" || { cat "$work/last.err" >&2; return 1; }; }
running_httpd() { "$@" ps --format '{{.Names}}' | grep -cE '^web-.*httpd$' || true; }

# 1. Pod with two containers: play + down. Run 0 of each side is a warm-up (and Podman's first
# pod builds its pause image). Each side checks once that the hostPort answers.
hp_ox=$(free_port); hp_pm=$(free_port)
pod_yaml "$hp_ox" >"$work/pod-ox.yaml"
pod_yaml "$hp_pm" >"$work/pod-pm.yaml"
pod_runs() { # label, yaml, hostPort, teardown (kube|pod), then the engine command
  local label=$1 yaml=$2 port=$3 down=$4; shift 4
  local play=("$@" kube play "$yaml")
  [[ $label == ox ]] && play=("$@" kube play --network kubebench "$yaml")
  for i in $(seq 0 "$RUNS"); do
    local t0 t1 t2
    t0=$(now_us)
    quiet "${play[@]}"
    t1=$(now_us)
    if ((i == 0)) && ! http_ok "$port"; then
      echo "$label: no HTTP 200 on 127.0.0.1:$port after kube play" >&2; exit 1
    fi
    if [[ $down == kube ]]; then
      quiet "$@" kube down "$yaml"
    else
      quiet "$@" pod stop -t 0 kbpod
      quiet "$@" pod rm kbpod
    fi
    t2=$(now_us)
    ((i == 0)) || echo "$((t1 - t0)) $((t2 - t1)) $((t2 - t0))" >>"$work/pod-$label"
  done
}
pod_runs ox "$work/pod-ox.yaml" "$hp_ox" kube "${ox[@]}"
if $have_podman; then
  pod_runs pm "$work/pod-pm.yaml" "$hp_pm" kube "${pm[@]}"
  pod_runs pmfast "$work/pod-pm.yaml" "$hp_pm" pod "${pm[@]}"
fi
pmv() { if $have_podman; then med_col "$work/pod-$1" "$2" 0.001; else echo -; fi; }
row "Pod (httpd + hostPort, sleeper): kube play + kube down" "$(med_col "$work/pod-ox" 2 0.001)" "$(pmv pm 2)" ms
row "same, podman: kube play + pod stop -t 0 + pod rm" "$(med_col "$work/pod-ox" 2 0.001)" "$(pmv pmfast 2)" ms
row "Pod: kube play alone" "$(med_col "$work/pod-ox" 0 0.001)" "$(pmv pm 0)" ms
row "Pod: kube down alone" "$(med_col "$work/pod-ox" 1 0.001)" "$(pmv pm 1)" ms

# 2. Deployment of $REPLICAS replicas behind a NodePort Service. A Python helper times the play
# (oxpod with --wait: every pod running and past its readiness probe) and then, from its return,
# the first HTTP 200 through the node port on 127.0.0.1 (a GET every millisecond, failures
# counted). `kube down` is timed apart; the replica count is checked, untimed, in between.
cat >"$work/play.py" <<'PY'
import socket, subprocess, sys, time
port, cmd = int(sys.argv[1]), sys.argv[2:]
req = b"GET /index.html HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
t0 = time.perf_counter()
r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
t1 = time.perf_counter()
if r.returncode:
    sys.exit(f"{' '.join(cmd)} exited with {r.returncode}: {r.stderr.decode().strip()}")
fails = 0
while port:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(req)
            if s.recv(64).split(b"\r\n")[0].split()[1:2] == [b"200"]:
                break
    except OSError:
        pass
    fails += 1
    if time.perf_counter() - t1 > 10:
        sys.exit(f"no HTTP 200 through 127.0.0.1:{port} within 10 s")
    time.sleep(0.001)
t2 = time.perf_counter()
print("%.2f %.2f %d" % ((t1 - t0) * 1000, (t2 - t1) * 1000, fails))
PY
cport=$(free_port); nport=$(free_node_port)
deployment_yaml "$cport" "$nport" true true >"$work/dep-ox.yaml"
deployment_yaml "$cport" "$nport" true false >"$work/dep-noprobe-ox.yaml"
deployment_yaml "$cport" "$nport" false true >"$work/dep-noports-pm.yaml"
dep_runs() { # label, node port (0: no request), yaml, then the engine command
  local label=$1 port=$2 yaml=$3; shift 3
  local play=("$@" kube play "$yaml")
  [[ $label == ox* ]] && play=("$@" kube play --network kubebench --wait "$yaml")
  for i in $(seq 0 "$DEP_RUNS"); do
    local out n t
    out=$(python3 "$work/play.py" "$port" "${play[@]}")
    n=$(running_httpd "$@")
    if ((n != REPLICAS)); then
      echo "$label: $n of $REPLICAS replicas running after kube play" >&2; exit 1
    fi
    t=$(now_us)
    quiet "$@" kube down "$yaml"
    ((i == 0)) || echo "$out $(($(now_us) - t))" >>"$work/dep-$label"
  done
}
dep_runs ox "$nport" "$work/dep-ox.yaml" "${ox[@]}"
dep_runs oxnp "$nport" "$work/dep-noprobe-ox.yaml" "${ox[@]}"
pm_play=- pm_down=-
if $have_podman; then
  dep_runs pm 0 "$work/dep-noports-pm.yaml" "${pm[@]}"
  pm_play=$(med_col "$work/dep-pm" 0 1)
  pm_down=$(med_col "$work/dep-pm" 3 0.001)
fi
row "Deployment ($REPLICAS replicas) + NodePort Service: kube play --wait (podman: kube play, Deployment without ports; no wait, no Service)" \
  "$(med_col "$work/dep-ox" 0 1)" "$pm_play" ms
# oxpod probes no earlier than a second after the start (the kubelet's relist), so the row above
# has a floor of 1 s; without the probe, --wait waits for the containers to run.
row "same, without the readinessProbe" "$(med_col "$work/dep-oxnp" 0 1)" "$pm_play" ms
fails=$(python3 -c "import sys; print(max(int(l.split()[2]) for l in open(sys.argv[1])))" "$work/dep-ox")
echo "| first HTTP 200 through the node port after play --wait returns (most failed GETs before it in a run: $fails) | $(med_col "$work/dep-ox" 1 1) ms | - (Service ignored) | - |" >>"$results"
row "Deployment + Service: kube down" "$(med_col "$work/dep-ox" 3 0.001)" "$pm_down" ms
if $have_podman; then
  # The same file as oxpod's: Podman publishes the bare containerPort on the host for every
  # replica, so all but one fail. Once, timed, then removed.
  t=$(now_us)
  "${pm[@]}" kube play "$work/dep-ox.yaml" >/dev/null 2>"$work/pm-same.err" && rc=0 || rc=$?
  ms=$(python3 -c "print('%.2f' % (($(now_us) - $t) / 1000))")
  n=$(running_httpd "${pm[@]}")
  why=$(grep -o 'address already in use' "$work/pm-same.err" | head -1 || true)
  "${pm[@]}" pod rm -af -t 0 >/dev/null 2>&1
  echo "| podman kube play of the same file (bare containerPort), once | - | $ms ms, exit $rc, $n of $REPLICAS replicas running${why:+ ($why)} | - |" >>"$results"
fi

# 3. kube generate of the running two-container pod (Podman's baseline in ../shared/PEER.md:
# 31 ms), and oxpod's --from-play of the file that made it. Run 0 of each side is a warm-up.
quiet "${ox[@]}" kube play --network kubebench "$work/pod-ox.yaml"
$have_podman && quiet "${pm[@]}" kube play "$work/pod-pm.yaml"
gen_runs() { # label, then the command
  local label=$1; shift
  for i in $(seq 0 "$RUNS"); do
    local t0
    t0=$(now_us)
    quiet "$@"
    ((i == 0)) || echo "$(($(now_us) - t0))" >>"$work/gen-$label"
  done
}
gen_runs ox "${ox[@]}" kube generate kbpod
gen_runs oxplay "${ox[@]}" kube generate --from-play "$work/pod-ox.yaml"
$have_podman && gen_runs pm "${pm[@]}" kube generate kbpod
pmgen=-
$have_podman && pmgen=$(med_col "$work/gen-pm" 0 0.001)
row "kube generate of the running Pod" "$(med_col "$work/gen-ox" 0 0.001)" "$pmgen" ms
row "kube generate --from-play of its file" "$(med_col "$work/gen-oxplay" 0 0.001)" "$pmgen" ms
quiet "${ox[@]}" kube down "$work/pod-ox.yaml"
$have_podman && quiet "${pm[@]}" kube down "$work/pod-pm.yaml"

# 4. Peak RSS of the CLI (/usr/bin/time's maximum resident set size: the process and the children
# it waited for, not detached monitors, conmon or proxies), median of RSS_RUNS.
rss_runs() { # label, pod yaml, deployment yaml, then the engine command
  local label=$1 pod=$2 dep=$3; shift 3
  local wait=() net=()
  [[ $label == ox ]] && wait=(--wait) net=(--network kubebench)
  for _ in $(seq "$RSS_RUNS"); do
    /usr/bin/time -f %M -o "$work/t1" "$@" kube play "${net[@]}" "$pod" >/dev/null 2>&1
    /usr/bin/time -f %M -o "$work/t2" "$@" kube down "$pod" >/dev/null 2>&1
    /usr/bin/time -f %M -o "$work/t3" "$@" kube play "${net[@]}" "${wait[@]}" "$dep" >/dev/null 2>&1
    /usr/bin/time -f %M -o "$work/t4" "$@" kube down "$dep" >/dev/null 2>&1
    echo "$(tail -1 "$work/t1") $(tail -1 "$work/t2") $(tail -1 "$work/t3") $(tail -1 "$work/t4")" >>"$work/rss-$label"
  done
}
rss_runs ox "$work/pod-ox.yaml" "$work/dep-ox.yaml" "${ox[@]}"
$have_podman && rss_runs pm "$work/pod-pm.yaml" "$work/dep-noports-pm.yaml" "${pm[@]}"
rss_row() { # name, column
  local pmv=-
  $have_podman && pmv=$(med_col "$work/rss-pm" "$2" 0.0009765625)
  row "peak RSS: $1" "$(med_col "$work/rss-ox" "$2" 0.0009765625)" "$pmv" MiB
}
rss_row "kube play, Pod" 0
rss_row "kube down, Pod" 1
rss_row "kube play (oxpod --wait), Deployment" 2
rss_row "kube down, Deployment" 3
cat "$results"
