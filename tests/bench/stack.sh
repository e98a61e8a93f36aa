# Sourced by tests/bench/cni.sh and tools/gen-hot-functions.sh: the emulators and the manager
# in the namespace $host, and a Mesos-style plugin config for them. Uses $bin (the
# contrail-mesos binary), $sim (contrail-mesos-sim), $work (a scratch directory) and appends the
# processes it starts to the array pids.

start_stack() { # $1 = agent ready delay (ms), $2 = name
  # Not through in_host: a function run with & is a subshell, and killing it would leave the
  # emulators running; ip netns exec runs the program in its own place.
  ip netns exec "$host" "$sim" --demo --agent-ready-delay-ms "$1" --watch-stdin no --print-urls \
    > "$work/$2.urls" 2>"$work/$2.sim.log" &
  pids+=($!)
  for _ in $(seq 200); do [ -s "$work/$2.urls" ] && break; sleep 0.05; done
  local api; api=$(jq -r .config_api "$work/$2.urls")
  ip netns exec "$host" "$bin" manager --listen 127.0.0.1 --port 0 --vnc-endpoint "$api" --reconcile-interval 0 \
    --log-level info 2> "$work/$2.manager.log" &
  pids+=($!)
  for _ in $(seq 200); do grep -q 'listening on' "$work/$2.manager.log" && break; sleep 0.05; done
}
conf_for() { # $1 = name, $2 = cniVersion (default 0.2.0) -> writes $work/$1.conf
  local agent manager; agent=$(jq -r .agent "$work/$1.urls"); agent=${agent#http://}
  manager=$(grep -o 'listening on http://[0-9.:]*' "$work/$1.manager.log" | head -n1 | cut -d' ' -f3)
  cat > "$work/$1.conf" <<CONF
{"cniVersion":"${2:-0.2.0}","name":"contrail-cni-plugin","type":"contrail-cni-plugin",
 "contrail":{"vrouter-ip":"${agent%:*}","vrouter-port":${agent##*:},"cluster-name":"mesos","mode":"mesos",
   "manager-url":"$manager","config-dir":"$work/ports","poll-timeout":1,"poll-retries":30,"log-level":"warn"},
 "args":{"org.apache.mesos":{"network_info":{"name":"contrail-cni-plugin","ip_addresses":[{"protocol":"IPv4"}],
   "labels":{"labels":[{"key":"networks","value":"bench-net"},{"key":"network-subnets","value":"10.200.0.0/16"},
                       {"key":"project-name","value":"default-project"}]}}}}}
CONF
}
