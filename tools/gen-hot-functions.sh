#!/usr/bin/env bash
# make hot-functions: rewrite tools/hot-functions.txt, the functions the CNI plugin runs, which
# tools/link-hot-first places first in the release binary's text.
#
# Builds the static binary with its symbols, starts the emulators and the manager in a network
# namespace (tests/bench/stack.sh), runs VERSION, ADD, CHECK, STATUS, DEL and GC in a fresh
# container namespace (ADD and DEL also with a 0.2.0 config) under valgrind's callgrind, which lists every function that ran, and
# writes their names without the per-build parts (`tools/link-hot-first --key`). Grouped by
# command in that order, VERSION's first, so the shortest runs touch the fewest pages; sorted
# within a group so the file changes only when the code path does. Root (namespaces).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ "$(id -u)" = 0 ] || { echo "gen-hot-functions needs root (network namespaces)" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "gen-hot-functions needs valgrind (apt install valgrind)" >&2; exit 1; }
target=${TARGET:-x86_64-unknown-linux-gnu}

echo "building the static binary with symbols and the emulators..." >&2
CARGO_PROFILE_RELEASE_STRIP=none RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static -C symbol-mangling-version=v0" \
  cargo build --locked --release --quiet --target "$target" --bin contrail-mesos --target-dir target/hot-functions
cargo build --locked --release --quiet --features sim --bin contrail-mesos-sim
bin="$top/target/hot-functions/$target/release/contrail-mesos"
sim="$top/target/release/contrail-mesos-sim"

work=$(mktemp -d /tmp/cm-hot-functions.XXXXXX)
host="cm-hot-host-$$"
ns="cm-hot-task-$$"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  ip netns del "$ns-old" 2>/dev/null || true
  ip netns del "$host" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$host"
ip -n "$host" link set lo up
ip netns add "$ns"
. "$top/tests/bench/stack.sh"
start_stack 0 stack
conf_for stack 1.1.0
mkdir -p "$work/plugins" "$work/ports" "$work/cg"
ln -s "$bin" "$work/plugins/contrail-cni-plugin"
# GC with no valid attachments: every port the ADD left (none after the DEL) is collected.
jq '. + {"cni.dev/valid-attachments": []}' "$work/stack.conf" > "$work/gc.conf"

# Mesos sends the CNI version of the operator's config: the oldest and the newest result
# formats are both on the path (a second container with a 0.2.0 config).
sed 's/"cniVersion":"1.1.0"/"cniVersion":"0.2.0"/' "$work/stack.conf" > "$work/old.conf"
runs="VERSION ADD ADD-0.2.0 CHECK STATUS DEL DEL-0.2.0 GC"
cid=$(cat /proc/sys/kernel/random/uuid)
old_cid=$(cat /proc/sys/kernel/random/uuid)
ip netns add "$ns-old"
for run in $runs; do
  cmd=${run%%-*} conf="$work/stack.conf" id=$cid netns=$ns
  case $run in
    *-0.2.0) conf="$work/old.conf" id=$old_cid netns=$ns-old ;;
    CHECK) conf="$work/check.conf"; jq --slurpfile r "$work/ADD.out" '. + {prevResult: $r[0]}' "$work/stack.conf" > "$conf" ;;
    GC) conf="$work/gc.conf" ;;
  esac
  ip netns exec "$host" env -i CNI_COMMAND="$cmd" CNI_CONTAINERID="$id" CNI_NETNS="/var/run/netns/$netns" \
    CNI_IFNAME=eth0 CNI_PATH="$work/plugins" PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    valgrind -q --tool=callgrind --demangle=no --callgrind-out-file="$work/cg/$run" \
    "$work/plugins/contrail-cni-plugin" < "$conf" > "$work/$run.out" 2> "$work/$run.err" \
    || { echo "$run failed: $(cat "$work/$run.out" "$work/$run.err")" >&2; exit 1; }
done

out=tools/hot-functions.txt
{
  echo "# The functions the CNI plugin runs, by command ($runs), without"
  echo "# their per-build name parts. Written by tools/gen-hot-functions.sh (make hot-functions);"
  echo "# read by tools/link-hot-first. $(cargo --version | cut -d' ' -f1-2), $(date -u +%Y-%m-%d)."
  for run in $runs; do
    # fn=(id) name and cfn=(id) name define names; 'N marks a recursion level.
    sed -n 's/^c\{0,1\}fn=([0-9]*) \(.*\)$/\1/p' "$work/cg/$run" | sed "s/'[0-9]*\$//" \
      | grep -Ev '^(\(below main\)|0x[0-9a-f]+)$' | tools/link-hot-first --key | LC_ALL=C sort -u
  done | awk '!seen[$0]++'
} > "$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out: $(grep -vc '^#' "$out") functions" >&2
