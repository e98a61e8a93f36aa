#!/usr/bin/env python3
"""Drive CNI plugins the way the Mesos agent does (exact env, stdin = a config file, DEL
re-sends the ADD config) and print timings and peak RSS. Run inside the bench host namespace by
tests/bench/cni.sh; prints figures, asserts nothing about time."""
import json, os, statistics, subprocess, sys, time, uuid

def spawn(plugin, cmd, cid, netns, conf_path, cni_path):
    """posix_spawn + waitpid around one plugin run, stdin from the config file as Mesos does;
    stdout goes to a file that is read only when the run failed."""
    env = {"CNI_COMMAND": cmd, "CNI_CONTAINERID": cid, "CNI_PATH": cni_path,
           "CNI_IFNAME": "eth0", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    if netns:
        env["CNI_NETNS"] = netns
    out = f"/tmp/cm-bench-{os.getpid()}.out"
    actions = [(os.POSIX_SPAWN_OPEN, 0, conf_path, os.O_RDONLY, 0),
               (os.POSIX_SPAWN_OPEN, 1, out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
               (os.POSIX_SPAWN_OPEN, 2, out, os.O_WRONLY | os.O_APPEND, 0)]
    t = time.perf_counter_ns()
    pid = os.posix_spawn(plugin, [plugin], env, file_actions=actions)
    _, status = os.waitpid(pid, 0)
    dt = (time.perf_counter_ns() - t) / 1e6
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{plugin} {cmd} failed: {open(out).read()}")
    return dt

def rss(plugin, cmd, cid, netns, conf_path, cni_path):
    env = {"CNI_COMMAND": cmd, "CNI_CONTAINERID": cid, "CNI_PATH": cni_path,
           "CNI_IFNAME": "eth0", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    if netns:
        env["CNI_NETNS"] = netns
    with open(conf_path, "rb") as stdin:
        p = subprocess.run(["/usr/bin/time", "-f", "%M", plugin], env=env, stdin=stdin, capture_output=True)
    if p.returncode != 0:
        sys.exit(f"{plugin} {cmd} failed: {p.stdout.decode()} {p.stderr.decode()}")
    return int(p.stderr.decode().strip().splitlines()[-1])

def netns_add(name):
    subprocess.run(["ip", "netns", "add", name], check=True)
    return f"/var/run/netns/{name}"

def netns_del(name):
    subprocess.run(["ip", "netns", "del", name], check=False)

def stats(xs):
    xs = sorted(xs)
    return statistics.median(xs), xs[min(len(xs) - 1, int(round(0.9 * (len(xs) - 1))))]

def main():
    cfg = json.load(open(sys.argv[1]))
    cycles, rss_cycles = cfg["cycles"], cfg["rss_cycles"]
    nets = cfg["nets"]  # name -> {plugin, conf, cni_path}
    times = {n: {"ADD": [], "DEL": [], "VERSION": []} for n in nets}
    mem = {n: {"ADD": [], "DEL": [], "VERSION": []} for n in nets}
    for i in range(cycles + 2):
        for n, net in nets.items():
            name = f"cmb-{n}-{i}"
            ns = netns_add(name)
            cid = str(uuid.uuid4())
            try:
                a = spawn(net["plugin"], "ADD", cid, ns, net["conf"], net["cni_path"])
                d = spawn(net["plugin"], "DEL", cid, ns, net["conf"], net["cni_path"])
                v = spawn(net["plugin"], "VERSION", "", None, net["conf"], net["cni_path"])
            finally:
                netns_del(name)
            if i >= 2:  # warm-up cycles dropped
                times[n]["ADD"].append(a); times[n]["DEL"].append(d); times[n]["VERSION"].append(v)
    for i in range(rss_cycles):
        for n, net in nets.items():
            name = f"cmr-{n}-{i}"
            ns = netns_add(name)
            cid = str(uuid.uuid4())
            try:
                mem[n]["ADD"].append(rss(net["plugin"], "ADD", cid, ns, net["conf"], net["cni_path"]))
                mem[n]["DEL"].append(rss(net["plugin"], "DEL", cid, ns, net["conf"], net["cni_path"]))
                mem[n]["VERSION"].append(rss(net["plugin"], "VERSION", "", None, net["conf"], net["cni_path"]))
            finally:
                netns_del(name)
    # The cost of starting any process this way, for reference.
    floor = stats([spawn("/bin/true", "VERSION", "", None, "/dev/null", "") for _ in range(200)])[0]
    out = {"_spawn_floor_ms": floor}
    for n in nets:
        out[n] = {op: {"median_ms": stats(times[n][op])[0], "p90_ms": stats(times[n][op])[1],
                       "peak_rss_kib": max(mem[n][op]) if mem[n][op] else 0}
                  for op in ("ADD", "DEL", "VERSION")}
    print(json.dumps(out))

if __name__ == "__main__":
    main()
