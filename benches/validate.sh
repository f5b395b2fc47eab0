#!/usr/bin/env bash
# `kube validate` throughput on one core: a multi-document file of varied Pods, Deployments,
# Services and ConfigMaps (COUNT resources, default 20000), validated by the release binary pinned
# to CPU 0 with `taskset -c 0`; resources per second from the median of RUNS runs (default 7).
# A second row validates the same file with one document in a hundred broken (a wrong type, an
# unknown field or a bad enum in turn), which takes the path that builds positions for
# diagnostics. Target: at least 5,000 resources/s (kubeconform reports about 7,500/s on 8 workers).
# usage: bash benches/validate.sh   (builds oxpod in release mode first; CARGO_TARGET_DIR honoured)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q
COUNT=${COUNT:-20000}
RUNS=${RUNS:-7}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A copy, so a build in this tree during the run does not swap the binary under it.
cp "${CARGO_TARGET_DIR:-target}/release/oxpod" "$work/oxpod"

python3 - "$COUNT" "$work" <<'PY'
import sys

count, work = int(sys.argv[1]), sys.argv[2]

def pod(i):
    return f"""apiVersion: v1
kind: Pod
metadata:
  name: web-{i}
  namespace: team-{i % 7}
  labels: {{app: web-{i % 50}, tier: front}}
  annotations:
    example.com/build: "{i}"
spec:
  restartPolicy: Always
  containers:
  - name: app
    image: registry.example.com/web:{i % 13}.0
    imagePullPolicy: IfNotPresent
    command: [sh, -c, "exec httpd -f -p {8000 + i % 1000}"]
    ports:
    - {{containerPort: {8000 + i % 1000}, name: http, protocol: TCP}}
    env:
    - {{name: MODE, value: production}}
    - name: POD_NAME
      valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}
    resources:
      limits: {{cpu: 500m, memory: 128Mi}}
      requests: {{cpu: 0.1, memory: 64Mi}}
    readinessProbe:
      httpGet: {{path: /healthz, port: http}}
      periodSeconds: 5
    volumeMounts:
    - {{name: cache, mountPath: /cache}}
  volumes:
  - name: cache
    emptyDir: {{medium: Memory}}
"""

def deployment(i):
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: api-{i}
  labels: {{app: api-{i}}}
spec:
  replicas: {1 + i % 5}
  revisionHistoryLimit: 3
  minReadySeconds: {i % 4}
  selector:
    matchLabels: {{app: api-{i}}}
  template:
    metadata:
      labels: {{app: api-{i}, version: v{i % 3}}}
    spec:
      initContainers:
      - name: migrate
        image: registry.example.com/api:{i % 9}
        args: [migrate, --to, latest]
      containers:
      - name: api
        image: registry.example.com/api:{i % 9}
        ports:
        - containerPort: 9000
          name: grpc
        livenessProbe:
          tcpSocket: {{port: 9000}}
          initialDelaySeconds: 3
        securityContext:
          runAsUser: 1000
          readOnlyRootFilesystem: true
          capabilities: {{drop: [ALL]}}
        envFrom:
        - configMapRef: {{name: settings-{i + 2}}}
"""

def service(i):
    kind = ["ClusterIP", "NodePort", "LoadBalancer"][i % 3]
    node_port = f"\n    nodePort: {30000 + i % 2768}" if kind != "ClusterIP" else ""
    return f"""apiVersion: v1
kind: Service
metadata:
  name: svc-{i}
spec:
  type: {kind}
  selector: {{app: api-{i}}}
  ports:
  - name: grpc
    port: {9000 + i % 500}
    targetPort: grpc
    protocol: TCP{node_port}
  - name: metrics
    port: 9100
    targetPort: 9100
"""

def configmap(i):
    return f"""apiVersion: v1
kind: ConfigMap
metadata:
  name: settings-{i}
data:
  LOG_LEVEL: info
  FEATURE_{i % 17}: "on"
  config.yaml: |
    listen: :9000
    replicas: {i % 5}
"""

makers = [pod, deployment, service, configmap]
docs = [makers[i % 4](i) for i in range(count)]
with open(f"{work}/valid.yaml", "w") as f:
    f.write("---\n".join(docs))
broken = list(docs)
for n, i in enumerate(range(0, count, 100)):
    # Pods take the restartPolicy and ports breakages; Deployments the replicas one.
    doc = broken[i]
    doc = doc.replace("    ports:\n", "    portz:\n", 1) if n % 2 else doc.replace(
        "restartPolicy: Always", "restartPolicy: Sometimes", 1
    )
    broken[i] = doc
    j = i + 1
    if j < count and broken[j].startswith("apiVersion: apps/v1"):
        broken[j] = broken[j].replace("  replicas: ", '  replicas: "many" #', 1)
with open(f"{work}/broken.yaml", "w") as f:
    f.write("---\n".join(broken))
PY

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# Runs `taskset -c 0 oxpod kube validate FILE` RUNS times after a warm-up run, each under
# /usr/bin/time; prints the medians of the elapsed and the CPU (user + system) seconds. The
# CPU time is what one core spends whatever else the machine runs; the elapsed time is what a
# user waits on an idle one. The exit status must be WANT.
time_validate() {
  local file=$1 want=$2 code
  : >"$work/times"
  for run in $(seq 0 "$RUNS"); do
    code=0
    /usr/bin/time -f "%e %U %S" -o "$work/time" \
      taskset -c 0 "$work/oxpod" kube validate "$file" >"$work/out" 2>"$work/err" || code=$?
    if ((code != want)); then
      echo "kube validate $file: exit $code, want $want" >&2
      tail -5 "$work/err" >&2
      exit 1
    fi
    ((run == 0)) || tail -1 "$work/time" >>"$work/times"
  done
  echo "$(awk '{print $1}' "$work/times" | median) $(awk '{print $2 + $3}' "$work/times" | median)"
}

times=$(time_validate "$work/valid.yaml" 0)
read -r valid_wall valid_cpu <<<"$times"
summary=$(cat "$work/out")
[[ $summary == "$COUNT resources: $COUNT valid" ]] || { echo "unexpected summary: $summary" >&2; exit 1; }
times=$(time_validate "$work/broken.yaml" 1)
read -r broken_wall broken_cpu <<<"$times"
broken_summary=$(cat "$work/out")
errors=$(grep -c '×' "$work/err" || true)

rate() { echo "$COUNT $1" | awk '{printf "%.0f", $1 / $2}'; }
printf '%-36s %10s %10s %14s %14s\n' "$COUNT resources, CPU 0" "elapsed s" "CPU s" "per s elapsed" "per s of CPU"
printf '%-36s %10.3f %10.3f %14s %14s\n' "all valid" "$valid_wall" "$valid_cpu" "$(rate "$valid_wall")" "$(rate "$valid_cpu")"
printf '%-36s %10.3f %10.3f %14s %14s\n' "1% broken ($errors diagnostics)" "$broken_wall" "$broken_cpu" "$(rate "$broken_wall")" "$(rate "$broken_cpu")"
echo "summaries: \"$summary\"; \"$broken_summary\""
