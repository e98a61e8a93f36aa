#!/usr/bin/env bash
# The whole path on one machine, on the embedded default: emulators of the Contrail config API,
# the vRouter agent, Marathon and the Mesos master; the real manager; a real network namespace;
# the CNI plugin run exactly as the Mesos agent runs it. Run as root:  sudo make demo
#   --quiet   only the final verdict (used by `make test`)
# CONTRAIL_API=real: upstream's real config API server with its schema transformer and
# svc-monitor (tools/contrail-api-server/launch.py; the kit `make real-api-kit` makes) in place of
# the config API emulator; the agent, Marathon and the Mesos master stay emulated.
set -euo pipefail

quiet=0
[ "${1:-}" = --quiet ] && quiet=1
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"

step() { [ $quiet = 1 ] || printf '\n\033[1m==> %s\033[0m\n' "$*"; }
show() { [ $quiet = 1 ] || "$@"; }
fail() { printf 'demo FAILED: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root (it creates a network namespace and a veth pair)"
command -v ip >/dev/null || .ci/deps

step "building contrail-mesos and the emulators"
cargo build --locked --quiet -p contrail-mesos -p contrail-mesos-sim --bins
target="${CARGO_TARGET_DIR:-$top/target}"
bin="$target/debug/contrail-mesos"
sim="$target/debug/contrail-mesos-sim"

work=$(mktemp -d /tmp/contrail-mesos-demo.XXXXXX)
ns="cm-demo-$$"
pids=()
on_exit=()   # more clean-up commands, added by steps
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for c in "${on_exit[@]}"; do eval "$c" 2>/dev/null || true; done
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

backend=()
case "${CONTRAIL_API:-emulator}" in
  emulator) ;;
  real)
    step "starting upstream's config API server with its schema transformer and svc-monitor"
    python3 tools/contrail-api-server/launch.py --daemons --work-dir "$work/real-api" \
      > "$work/real-api.out" 2> "$work/real-api.log" &
    pids+=($!)
    for _ in $(seq 1200); do [ -s "$work/real-api.out" ] && break; sleep 0.1; done
    read -r ready port _ < "$work/real-api.out" || true
    [ "${ready:-}" = READY ] || { tail -n 20 "$work/real-api.log" >&2; fail "upstream's config API server did not start"; }
    show echo "upstream's config API server on port $port: $(cut -d' ' -f4- "$work/real-api.out")"
    backend=(--config-api "http://127.0.0.1:$port") ;;
  *) fail "CONTRAIL_API=${CONTRAIL_API} (emulator or real)" ;;
esac

step "starting the emulators (${backend:+vRouter agent, Marathon, Mesos master}${backend:-Contrail config API, vRouter agent, Marathon, Mesos master})"
# This node's virtual-router as a real deployment has it: named after the host, at a fabric
# address (the agent's port API listens on 127.0.0.1, as the packaged config says).
# The agent keeps its port files in the plugin's config-dir, as a real one does.
mkdir -p "$work/ports"
"$sim" --demo --vrouter-name "$(hostname)" --vrouter-address 10.64.0.1 --watch-stdin no \
  --agent-port-dir "$work/ports" "${backend[@]}" --print-urls > "$work/urls" 2> "$work/sim.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/urls" ] && break; sleep 0.05; done
[ -s "$work/urls" ] || { cat "$work/sim.log" >&2; fail "emulators did not start"; }
urls=$(head -n1 "$work/urls")
api=$(jq -r .config_api <<<"$urls"); agent=$(jq -r .agent <<<"$urls")
marathon=$(jq -r .marathon <<<"$urls"); mesos=$(jq -r .mesos <<<"$urls")
show echo "config API $api, agent $agent, Marathon $marathon, Mesos $mesos"

step "starting the manager, with Contrail's own DNS for the cluster (dns_domain)"
# dns_domain: the cluster's virtual-DNS default-domain:mesos-dns serves l4lb.thisdcos.directory
# (named VIPs resolve as DC/OS tasks name them) and forwards the rest to the first
# dns_nameservers address (Mesos-DNS on the masters, here a made-up 10.64.0.53).
cat > "$work/manager.conf" <<CONF
[MESOS]
dns_domain = l4lb.thisdcos.directory
dns_nameservers = 10.64.0.53
CONF
show cat "$work/manager.conf"
"$bin" manager -c "$work/manager.conf" --listen 127.0.0.1 --port 0 --vnc-endpoint "$api" --mesos-master-url "$mesos" \
  --marathon-url "$marathon" --reconcile-interval 0 --log-level info 2> "$work/manager.log" &
pids+=($!)
for _ in $(seq 100); do grep -q 'listening on' "$work/manager.log" && break; sleep 0.05; done
manager=$(grep -o 'listening on http://[0-9.:]*' "$work/manager.log" | head -n1 | cut -d' ' -f3)
[ -n "$manager" ] || { cat "$work/manager.log" >&2; fail "manager did not start"; }
show echo "manager $manager"

step "a task network namespace, and the CNI plugin installed as Mesos finds it"
ip netns add "$ns"
mkdir -p "$work/plugins"
ln -s "$bin" "$work/plugins/contrail-cni-plugin"
cid=$(cat /proc/sys/kernel/random/uuid)
agent_host=${agent#http://}
manager_host=${manager#http://}
node=$(hostname)
# The packaged network config, as an operator installs it (vrouter-ip 127.0.0.1, cluster-name
# mesos), pointed at the emulators' ports; Mesos adds the task's network_info as "args".
jq --argjson vport "${agent_host##*:}" --arg mip "${manager_host%:*}" --arg mport "${manager_host##*:}" \
   --arg dir "$work/ports" --arg log "$work/cni.log" '
  .contrail["vrouter-port"] = $vport | .contrail["mesos-ip"] = $mip | .contrail["mesos-port"] = $mport
  | .contrail["config-dir"] = $dir | .contrail["log-file"] = $log
  | .args = {"org.apache.mesos": {"network_info": {"name": "contrail-cni-plugin",
      "ip_addresses": [{"protocol": "IPv4"}],
      "labels": {"labels": [{"key": "networks", "value": "blue-network"},
        {"key": "network-subnets", "value": "5.5.5.0/24"},
        {"key": "project-name", "value": "default-project"},
        {"key": "domain-name", "value": "default-domain"},
        {"key": "floating-ips", "value": "default-domain:default-project:__public__:__fip_pool_public__(10.66.77.123)"},
        {"key": "security-groups", "value": "default-domain:default-project:security_groups_mesos"}]}}}}' \
   packaging/contrail-cni-plugin.conf > "$work/network.conf"
show cat "$work/network.conf"

cni() {
  env -i CNI_COMMAND="$1" CNI_CONTAINERID="$cid" CNI_NETNS="/var/run/netns/$ns" CNI_IFNAME=eth0 \
    CNI_PATH="$work/plugins" PATH=/usr/sbin:/usr/bin:/sbin:/bin "$work/plugins/contrail-cni-plugin" < "$work/network.conf"
}

step "CNI ADD, as the Mesos agent runs it (container $cid)"
result=$(cni ADD) || { cat "$work/cni.log" >&2; fail "ADD failed: $result"; }
show jq . <<<"$result"
ip=$(jq -r '.ip4.ip' <<<"$result")
tap=$(jq -r '."host-ifname"' "$work/ports/.contrail-mesos/$cid"/*)
case "$ip" in 5.5.5.*/24) ;; *) fail "unexpected address $ip" ;; esac

step "the task's VM is linked from this node's virtual-router ($node, at 10.64.0.1)"
vr=$(curl -fsS "$api/virtual-routers?detail=true" | jq -c --arg n "$node" \
  '."virtual-routers"[] | ."virtual-router" | select(.fq_name[1] == $n)')
show jq -c '{fq_name, virtual_router_ip_address, virtual_machine_refs: [.virtual_machine_refs[]?.uuid]}' <<<"$vr"
jq -e --arg cid "$cid" '.virtual_machine_refs[]? | select(.uuid == $cid)' <<<"$vr" >/dev/null ||
  fail "the router named after this host does not link the task's VM"

# ---- policies: begin ---------------------------------------------------------------------
# The task's network as Contrail has it: made from the labels with the cluster's policies, so
# that Mesos-DNS, marathon-lb and dcos-l4lb on the hosts (the ip-fabric) reach the task, and
# the task reaches the VIPs (the service network).
step "the task's network has the cluster's policies (read from the config API)"
fqid() {
  curl -fsS -X POST "$api/fqname-to-id" -H 'Content-Type: application/json' \
    -d "{\"type\":\"$1\",\"fq_name\":$2}" | jq -r .uuid
}
vn=$(fqid virtual-network '["default-domain","default-project","blue-network"]')
policies=$(curl -fsS "$api/virtual-network/$vn?fields=network_policy_refs" |
  jq -c '[."virtual-network".network_policy_refs[]? | {policy: (.to | join(":")), sequence: .attr.sequence}]')
show jq . <<<"$policies"
for p in mesos-default-ip-fabric-np mesos-default-pod-service-np mesos-default-service-np; do
  jq -e --arg p "default-domain:mesos-default:$p" 'map(.policy) | index($p)' <<<"$policies" >/dev/null ||
    fail "blue-network lacks the cluster policy $p"
done
np=$(fqid network-policy '["default-domain","mesos-default","mesos-default-ip-fabric-np"]')
rule=$(curl -fsS "$api/network-policy/$np" | jq -c '."network-policy".network_policy_entries.policy_rule[0]
  | {direction, protocol, ethertype, action: .action_list.simple_action,
     from: .src_addresses[0].network_policy, to: .dst_addresses[0].virtual_network}')
show echo "mesos-default-ip-fabric-np: $rule"
jq -e '.to == "default-domain:default-project:ip-fabric" and .action == "pass" and .direction == "<>"' \
  <<<"$rule" >/dev/null || fail "unexpected ip-fabric rule $rule"
fabric=$(fqid virtual-network '["default-domain","default-project","ip-fabric"]')
curl -fsS "$api/virtual-network/$fabric?fields=network_policy_refs" |
  jq -e '[."virtual-network".network_policy_refs[]?.to[2]] | index("mesos-default-ip-fabric-np")' >/dev/null ||
  fail "the ip-fabric network lacks the ip-fabric policy"
show echo "ip-fabric has mesos-default-ip-fabric-np too: hosts and tasks reach each other"
# ---- policies: end -----------------------------------------------------------------------

step "the cluster's virtual-DNS, and the IPAMs on it (the cluster's and blue-network's)"
for _ in $(seq 100); do
  [ "$(curl -fsS "$manager/healthz" | jq -r .provisioning)" = done ] && break; sleep 0.1
done
vdns=$(fqid virtual-DNS '["default-domain","mesos-dns"]')
[ -n "$vdns" ] && [ "$vdns" != null ] || fail "no virtual-DNS default-domain:mesos-dns"
curl -fsS "$api/virtual-DNS/$vdns" | jq -e '."virtual-DNS".virtual_DNS_data.domain_name == "l4lb.thisdcos.directory"' >/dev/null ||
  fail "the virtual-DNS does not serve l4lb.thisdcos.directory"
show jq -c '."virtual-DNS" | {fq_name, virtual_DNS_data}' <<<"$(curl -fsS "$api/virtual-DNS/$vdns")"
ipams=$(curl -fsS "$api/network-ipams?detail=true" | jq -c '[."network-ipams"[] | ."network-ipam"
  | select(.fq_name[2] | test("mesos-pod-task-ipam|mesos-service-ipam|blue-network-ipam"))
  | {ipam: (.fq_name | join(":")), method: .network_ipam_mgmt.ipam_dns_method,
     server: .network_ipam_mgmt.ipam_dns_server.virtual_dns_server_name, refers: [.virtual_DNS_refs[]?.to | join(":")]}]')
show jq -c '.[]' <<<"$ipams"
jq -e 'length == 3 and all(.method == "virtual-dns-server" and .server == "default-domain:mesos-dns" and .refers == ["default-domain:mesos-dns"])' \
  <<<"$ipams" >/dev/null || fail "not every cluster IPAM uses the virtual-DNS: $ipams"
curl -fsS "$manager/healthz" | jq -e '.virtual_dns.server == "default-domain:mesos-dns" and (has("ipams_dns_not_switched") | not)' >/dev/null ||
  fail "/healthz does not show the virtual-DNS in use"
nameservers=$(jq -c '.dns.nameservers' <<<"$result")
show echo "the task's nameservers: $nameservers (the vRouter agent's DNS server for its port, which serves the virtual-DNS)"
jq -e 'length > 0 and (index("10.64.0.53") | not)' <<<"$nameservers" >/dev/null ||
  fail "with dns_domain the task's nameserver is the agent's, not dns_nameservers: $nameservers"

step "inside the task's namespace"
show echo "host end: $tap"
show ip -n "$ns" addr show dev eth0
show ip -n "$ns" route
ip -n "$ns" -j addr show dev eth0 | jq -e --arg a "${ip%/*}" '.[0].addr_info[] | select(.local == $a)' >/dev/null ||
  fail "eth0 does not have $ip"
gw=$(jq -r '.ip4.gateway' <<<"$result")
[ "$(ip -n "$ns" -j route show default | jq -r '.[0].gateway')" = "$gw" ] || fail "no default route via $gw"

step "Marathon and Mesos now report the task; status joins them with Contrail"
task="blue-app.$(cat /proc/sys/kernel/random/uuid)"
curl -fsS -X PUT "$marathon/_sim/apps" -H 'Content-Type: application/json' -d @- >/dev/null <<APPS
[{"id":"/blue-app","instances":1,"tasksRunning":1,
  "networks":[{"mode":"container","name":"contrail-cni-plugin","labels":{"networks":"blue-network"}}],
  "tasks":[{"id":"$task","appId":"/blue-app","host":"$node","state":"TASK_RUNNING",
            "ipAddresses":[{"ipAddress":"${ip%/*}","protocol":"IPv4"}]}]}]
APPS
curl -fsS -X PUT "$mesos/_sim/state" -H 'Content-Type: application/json' -d @- >/dev/null <<STATE
{"slaves":[{"id":"s1","hostname":"$node"}],
 "frameworks":[{"id":"marathon","name":"marathon","active":true,"completed_tasks":[],"unreachable_tasks":[],
   "tasks":[{"id":"$task","name":"blue-app","framework_id":"marathon","slave_id":"s1","state":"TASK_RUNNING",
             "statuses":[{"state":"TASK_RUNNING","container_status":{"container_id":{"value":"$cid"},
               "network_infos":[{"ip_addresses":[{"protocol":"IPv4","ip_address":"${ip%/*}"}]}]}}]}]}]}
STATE
show "$bin" status --api "$api" --marathon "$marathon" --mesos "$mesos"
status=$("$bin" status --api "$api" --marathon "$marathon" --mesos "$mesos" --json)
jq -e --arg ip "${ip%/*}" '.tasks[0].interfaces[0].ips | index($ip)' <<<"$status" >/dev/null || fail "status lacks $ip"
jq -e '.tasks[0].interfaces[0].floating_ips | index("10.66.77.123")' <<<"$status" >/dev/null || fail "status lacks the floating IP"

step "the vRouter agent restarts; the task's port comes back from the agent's own port file"
# config-dir is the agent's port directory: its own file per VM (R2008: <vm name>/<vmi uuid>),
# the plugin's records apart in .contrail-mesos/, where no agent release looks.
show find "$work/ports" -type f
ports_now() { curl -fsS "$agent/_sim/ports" | jq -c 'map({"vm-id", "vmi-uuid", "host-ifname"}) | sort'; }
posts() { curl -fsS "$agent/_sim/agent" | jq .stats.posts; }
before=$(ports_now); posts_before=$(posts)
reload=$(curl -fsS -X POST "$agent/_sim/restart")
show jq -c . <<<"$reload"
after=$(ports_now)
[ "$after" = "$before" ] || fail "the agent's restart lost ports: before $before, after $after"
[ "$(posts)" = "$posts_before" ] || fail "a port was registered again after the restart"
curl -fsS "$agent/vm/$cid" | jq -e --arg a "${ip%/*}" '[.[]? | select(."ip-address" == $a)] | length == 1' >/dev/null ||
  fail "the restarted agent does not report ${ip%/*} for the task"
restarted="$(jq length <<<"$after") port(s) back after a vRouter agent restart, no plugin run"
show echo "$restarted"

# ---- VIP step: begin ----------------------------------------------------------------------
# Marathon VIP labels become a Contrail native load balancer that follows the tasks' health
# (the manager above follows Marathon's events, and polls), and a named VIP an A record in the
# cluster's virtual-DNS. Self-contained: two more task namespaces and the app /web, all
# removed again at the end of the step.
step "VIPs: app /web, two instances with a health check, port mapping 8080 with VIP_0=/web:80"
# The same network, without the floating IP (one address cannot go to three tasks).
jq '.args["org.apache.mesos"].network_info.labels.labels |= map(select(.key != "floating-ips"))' \
  "$work/network.conf" > "$work/vip-network.conf"
vip_cni() {  # vip_cni ADD|DEL <container id> <namespace>
  env -i CNI_COMMAND="$1" CNI_CONTAINERID="$2" CNI_NETNS="/var/run/netns/$3" CNI_IFNAME=eth0 \
    CNI_PATH="$work/plugins" PATH=/usr/sbin:/usr/bin:/sbin:/bin "$work/plugins/contrail-cni-plugin" < "$work/vip-network.conf"
}
vip_ns=(); vip_cid=(); vip_ip=(); vip_task=()
for i in 0 1; do
  vip_ns[$i]="cm-demo-$$-web$i"; vip_cid[$i]=$(cat /proc/sys/kernel/random/uuid)
  ip netns add "${vip_ns[$i]}"; on_exit+=("ip netns del ${vip_ns[$i]}")
  r=$(vip_cni ADD "${vip_cid[$i]}" "${vip_ns[$i]}") || fail "VIP task $i ADD failed: $r"
  vip_ip[$i]=$(jq -r '.ip4.ip | split("/")[0]' <<<"$r")
  vip_task[$i]="web.$(cat /proc/sys/kernel/random/uuid)"
done
show echo "tasks ${vip_task[*]} at ${vip_ip[*]}"
# What Marathon and the master report: /web's tasks (each with its health check result) next
# to what is already there.
vip_publish() {  # vip_publish <alive of task 0> <alive of task 1>; no arguments removes the app
  local tasks='[]' mtasks='[]' i alive=("$@")
  for ((i = 0; i < ${#alive[@]}; i++)); do
    tasks=$(jq -c --arg id "${vip_task[$i]}" --arg ip "${vip_ip[$i]}" --arg h "$node" --argjson ok "${alive[$i]}" \
      '. + [{id: $id, appId: "/web", host: $h, state: "TASK_RUNNING", slaveId: "s1",
             ipAddresses: [{ipAddress: $ip, protocol: "IPv4"}], ports: [], servicePorts: [10101],
             healthCheckResults: [{alive: $ok, consecutiveFailures: (if $ok then 0 else 3 end), taskId: $id}]}]' <<<"$tasks")
    mtasks=$(jq -c --arg id "${vip_task[$i]}" --arg ip "${vip_ip[$i]}" --arg c "${vip_cid[$i]}" \
      '. + [{id: $id, name: "web", framework_id: "marathon", slave_id: "s1", state: "TASK_RUNNING",
             statuses: [{state: "TASK_RUNNING", container_status: {container_id: {value: $c},
               network_infos: [{ip_addresses: [{protocol: "IPv4", ip_address: $ip}]}]}}]}]' <<<"$mtasks")
  done
  curl -fsS "$mesos/_sim/state" | jq -c --argjson t "$mtasks" \
    '.frameworks[0].tasks = ([.frameworks[0].tasks[] | select(.name != "web")] + $t)' |
    curl -fsS -X PUT "$mesos/_sim/state" -H 'Content-Type: application/json' -d @- >/dev/null
  curl -fsS "$marathon/_sim/apps" | jq -c --argjson t "$tasks" --argjson n "${#alive[@]}" '
    [.[] | select(.id != "/web")] + (if $n == 0 then [] else [{id: "/web", instances: $n,
      networks: [{mode: "container", name: "contrail-cni-plugin", labels: {networks: "blue-network"}}],
      container: {type: "MESOS", portMappings: [{containerPort: 8080, protocol: "tcp", name: "http",
        servicePort: 10101, labels: {VIP_0: "/web:80"}}]},
      healthChecks: [{protocol: "MESOS_HTTP", path: "/health", portIndex: 0, gracePeriodSeconds: 30,
        intervalSeconds: 10, timeoutSeconds: 5, maxConsecutiveFailures: 3}],
      tasks: $t}] end)' |
    curl -fsS -X PUT "$marathon/_sim/apps" -H 'Content-Type: application/json' -d @- >/dev/null
}
vip_list() { curl -fsS "$api/$1s?detail=true" | jq -c "[.\"$1s\"[] | .\"$1\"]"; }
vip_wait() {  # vip_wait <what> <jq test on {lbs, members, fips, records}>
  local i state
  for i in $(seq 300); do
    state=$(jq -n --argjson lbs "$(vip_list loadbalancer)" --argjson members "$(vip_list loadbalancer-member)" \
      --argjson fips "$(vip_list floating-ip)" --argjson records "$(vip_list virtual-DNS-record)" \
      '{lbs: $lbs, members: $members, fips: [$fips[] | select(.parent_type == "instance-ip")], records: $records}')
    jq -e "$2" <<<"$state" >/dev/null && return 0
    sleep 0.1
  done
  fail "VIPs: $1 (last seen: $state)"
}
vip_publish true true
vip_wait "a load balancer with two members and a DNS record" \
  '(.lbs | length) == 1 and (.members | length) == 2 and (.fips[0].virtual_machine_interface_refs | length) == 2 and (.records | length) == 1'

step "VIPs: the load balancer, its listener, pool and members, svc-monitor's floating IP, the DNS record"
show jq '.[] | {fq_name, uuid, loadbalancer_provider, loadbalancer_properties,
  annotations: (.annotations.key_value_pair | map({(.key): .value}) | add),
  service_appliance_set: .service_appliance_set_refs[0].to}' <<<"$(vip_list loadbalancer)"
show jq -c '.[] | {name: .fq_name[2], loadbalancer_listener_properties}' <<<"$(vip_list loadbalancer-listener)"
show jq -c '.[] | {name: .fq_name[2], protocol: .loadbalancer_pool_properties.protocol, listener: .loadbalancer_listener_refs[0].to[2]}' \
  <<<"$(vip_list loadbalancer-pool)"
show jq -c '.[] | {address: .loadbalancer_member_properties.address, protocol_port: .loadbalancer_member_properties.protocol_port,
  annotations: (.annotations.key_value_pair | map({(.key): .value}) | add)}' <<<"$(vip_list loadbalancer-member)"
show jq -c '.[] | select(.parent_type == "instance-ip") | {floating_ip_address, floating_ip_traffic_direction,
  members: [.virtual_machine_interface_refs[].to[2]], floating_ip_port_mappings}' <<<"$(vip_list floating-ip)"
show jq -c '.[] | {fq_name, virtual_DNS_record_data}' <<<"$(vip_list virtual-DNS-record)"
vip_addr=$(vip_list loadbalancer | jq -r '.[0].loadbalancer_properties.vip_address')
fip=$(vip_list floating-ip | jq -c '[.[] | select(.parent_type == "instance-ip")][0]')
[ "$(jq -r .floating_ip_address <<<"$fip")" = "$vip_addr" ] || fail "svc-monitor's floating IP is not the VIP $vip_addr"
jq -e '.floating_ip_port_mappings.port_mappings == [{"protocol": "TCP", "src_port": 80, "dst_port": 8080}]' <<<"$fip" >/dev/null ||
  fail "no port map 80 -> 8080 on the VIP's floating IP"
vip_list virtual-DNS-record | jq -e --arg a "$vip_addr" '.[0] | .fq_name[1] == "mesos-dns" and .virtual_DNS_record_data ==
  {"record_name": "web.marathon", "record_type": "A", "record_class": "IN", "record_data": $a, "record_ttl_seconds": 60}' >/dev/null ||
  fail "no A record web.marathon -> $vip_addr in the cluster's virtual-DNS"
show echo "tasks resolve web.marathon.l4lb.thisdcos.directory to $vip_addr through the vRouter agent's DNS server"
show "$bin" status -c "$work/manager.conf" --api "$api" --marathon "$marathon" --mesos "$mesos"
"$bin" status -c "$work/manager.conf" --api "$api" --marathon "$marathon" --mesos "$mesos" --json |
  jq -e --arg a "$vip_addr" '.vips[] | select(.name == "web.marathon" and .address == $a and (.members | length) == 2
    and .missing == [] and .extra == [] and .dns == {"name": "web.marathon.l4lb.thisdcos.directory", "address": $a, "in_step": true})' >/dev/null ||
  fail "status does not show web.marathon at $vip_addr with its two members and its record"

step "VIPs: the second task fails its health check; its member goes, the name stays"
vip_publish true false
vip_wait "one member left" '(.members | length) == 1 and (.fips[0].virtual_machine_interface_refs | length) == 1 and (.records | length) == 1'
show jq -c '.[] | {address: .loadbalancer_member_properties.address, protocol_port: .loadbalancer_member_properties.protocol_port}' \
  <<<"$(vip_list loadbalancer-member)"
[ "$(vip_list loadbalancer-member | jq -r '.[0].loadbalancer_member_properties.address')" = "${vip_ip[0]}" ] ||
  fail "the healthy task ${vip_ip[0]} is not the member left"

step "VIPs: delete /web; its load balancer, its DNS record and everything under it go"
vip_publish
for i in 0 1; do out=$(vip_cni DEL "${vip_cid[$i]}" "${vip_ns[$i]}") || fail "DEL failed: $out"; done
vip_wait "no VIP object left" '(.lbs | length) == 0 and (.members | length) == 0 and (.fips | length) == 0 and (.records | length) == 0'
left=$(for t in loadbalancer loadbalancer-listener loadbalancer-pool loadbalancer-member virtual-DNS-record; do vip_list "$t" | jq length; done | paste -sd' ')
vmis=$(vip_list virtual-machine-interface | jq '[.[] | select(.virtual_machine_interface_device_owner == "MESOS:LOADBALANCER")] | length')
show echo "load balancers, listeners, pools, members, DNS records: $left; VIP interfaces: $vmis"
[ "$left $vmis" = "0 0 0 0 0 0" ] || fail "VIP objects left: $left, VIP interfaces $vmis"
for n in "${vip_ns[@]}"; do ip netns del "$n"; done
# ---- VIP step: end ------------------------------------------------------------------------

step "CNI DEL"
out=$(cni DEL) || fail "DEL failed: $out"
[ -z "$out" ] || fail "DEL printed $out"

step "nothing is left"
vms=$(curl -fsS "$api/virtual-machines" | jq '."virtual-machines" | length')
vmis=$(curl -fsS "$api/virtual-machine-interfaces" | jq '."virtual-machine-interfaces" | length')
iips=$(curl -fsS "$api/instance-ips" | jq '."instance-ips" | length')
fips=$(curl -fsS "$api/floating-ips" | jq '."floating-ips" | length')
ports=$(curl -fsS "$agent/_sim/ports" | jq 'length')
links=$(ip -n "$ns" -j link show | jq '[.[] | select(.ifname != "lo")] | length')
if ip link show dev "$tap" >/dev/null 2>&1; then fail "host interface $tap left"; fi
files=$(find "$work/ports" -type f | wc -l)
show printf 'virtual-machines %s, interfaces %s, instance-ips %s, floating-ips %s, agent ports %s, links in the namespace %s, port files %s\n' \
  "$vms" "$vmis" "$iips" "$fips" "$ports" "$links" "$files"
[ "$vms$vmis$iips$fips$ports$links$files" = 0000000 ] || fail "objects left behind"
show "$bin" status --api "$api" --marathon "$marathon" --mesos "$mesos"

echo "demo passed: task got ${ip} and floating IP 10.66.77.123 in blue-network; $restarted; after DEL nothing is left"
