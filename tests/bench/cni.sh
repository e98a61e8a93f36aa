#!/usr/bin/env bash
# make bench-cni: Mesos-style ADD/DEL/VERSION cycles of this plugin (agent and manager
# emulated with zero latency) and of the reference bridge+host-local plugins, interleaved in
# one run, inside a dedicated "host" namespace. Prints medians, p90, peak RSS and ratios; then
# ADD with an agent readiness delay. Figures only.
#   CYCLES=200 RSS_CYCLES=10 DELAY_MS=50 tests/bench/cni.sh
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
[ "$(id -u)" = 0 ] || { echo "bench-cni needs root (network namespaces)" >&2; exit 1; }
cycles=${CYCLES:-200}; rss_cycles=${RSS_CYCLES:-10}; delay=${DELAY_MS:-50}

echo "building the static release binary and the emulators (release)..." >&2
make --no-print-directory release >/dev/null
cargo build --locked --release --quiet -p contrail-mesos-sim
target="${CARGO_TARGET_DIR:-$top/target}"
bin="$target/x86_64-unknown-linux-gnu/release/contrail-mesos"
sim="$target/release/contrail-mesos-sim"

work=$(mktemp -d /tmp/cm-bench-cni.XXXXXX)
host="cm-bench-host-$$"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for ns in $(ip netns list | awk '{print $1}' | grep -E '^cm[br]-' || true); do ip netns del "$ns" || true; done
  ip netns del "$host" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$host"
ip -n "$host" link set lo up
in_host() { ip netns exec "$host" "$@"; }

. "$top/tests/bench/stack.sh"
start_stack 0 zero
start_stack "$delay" delayed
conf_for zero
conf_for delayed
mkdir -p "$work/plugins" "$work/ports"
ln -s "$bin" "$work/plugins/contrail-cni-plugin"
cat > "$work/bridge.conf" <<CONF
{"cniVersion":"0.2.0","name":"cm-bench-bridge","type":"bridge","bridge":"cmbench0","isGateway":true,"ipMasq":false,
 "ipam":{"type":"host-local","dataDir":"$work/ipam","ranges":[[{"subnet":"198.18.0.0/16"}]],"routes":[{"dst":"0.0.0.0/0"}]},
 "args":{"org.apache.mesos":{"network_info":{"name":"cm-bench-bridge","ip_addresses":[{"protocol":"IPv4"}],
   "labels":{"labels":[{"key":"networks","value":"bench-net"}]}}}}}
CONF
cat > "$work/driver.json" <<JSON
{"cycles": $cycles, "rss_cycles": $rss_cycles, "nets": {
  "contrail": {"plugin": "$work/plugins/contrail-cni-plugin", "conf": "$work/zero.conf", "cni_path": "$work/plugins"},
  "bridge": {"plugin": "/usr/lib/cni/bridge", "conf": "$work/bridge.conf", "cni_path": "/usr/lib/cni"}}}
JSON
cat > "$work/delayed.json" <<JSON
{"cycles": $(( cycles / 4 > 20 ? cycles / 4 : 20 )), "rss_cycles": 0, "nets": {
  "contrail": {"plugin": "$work/plugins/contrail-cni-plugin", "conf": "$work/delayed.conf", "cni_path": "$work/plugins"}}}
JSON
echo "running $cycles interleaved cycles (+2 warm-up) of each plugin..." >&2
main=$(in_host python3 "$top/tests/bench/cni_driver.py" "$work/driver.json")
delayed=$(in_host python3 "$top/tests/bench/cni_driver.py" "$work/delayed.json")

python3 - "$main" "$delayed" "$delay" "$cycles" "$(stat -c %s "$bin")" <<'PY'
import json, sys
m, d, delay, cycles, size = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
c, b = m["contrail"], m["bridge"]
print(f"CNI benchmark: {cycles} Mesos-style cycles each, interleaved, one run; agent and manager emulated (0 ms);")
print(f"times include process start (posix_spawn + wait of /bin/true: {m['_spawn_floor_ms']:.2f} ms)")
print(f"binary: {size / 1048576:.2f} MiB (static, stripped)")
print(f"{'op':8} {'contrail median (p90)':>24} {'bridge median (p90)':>22} {'ratio':>7}   {'contrail RSS':>13} {'bridge RSS':>11}")
for op in ("ADD", "DEL", "VERSION"):
    co, bo = c[op], b[op]
    print(f"{op:8} {co['median_ms']:>12.2f} ms ({co['p90_ms']:6.2f}) {bo['median_ms']:>10.2f} ms ({bo['p90_ms']:6.2f}) "
          f"{co['median_ms']/bo['median_ms']:>6.2f}x   {co['peak_rss_kib']/1024:>9.2f} MiB {bo['peak_rss_kib']/1024:>7.2f} MiB")
dd = d["contrail"]["ADD"]
print(f"targets: ADD <= 0.6x bridge ({c['ADD']['median_ms']/b['ADD']['median_ms']:.2f}x), DEL <= 1.0x bridge "
      f"({c['DEL']['median_ms']/b['DEL']['median_ms']:.2f}x), VERSION <= 1 ms ({c['VERSION']['median_ms']:.2f} ms), "
      f"peak RSS <= 4 MiB ({max(c[o]['peak_rss_kib'] for o in c)/1024:.2f} MiB)")
print(f"with an agent readiness delay of {delay} ms: ADD median {dd['median_ms']:.1f} ms (p90 {dd['p90_ms']:.1f}); "
      f"target <= {delay + 20} ms")
PY
