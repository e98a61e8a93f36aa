//! `contrail-mesos-sim`: runs the emulators of the Contrail config API, the vRouter agent port
//! API, Marathon and the Mesos master, for demos, benchmarks and black-box tests.
//!
//! A binary of the emulators' own crate: `cargo build -p contrail-mesos-sim`.
//!
//! With `--print-urls` it prints exactly one JSON line on stdout once every emulator listens:
//! `{"agent":"http://..","marathon":"http://..","mesos":"http://..","config_api":"http://.."}`
//! (no config_api with `--no-config-api`). Nothing else is ever written to stdout; logs go to stderr (`RUST_LOG`).
//!
//! The agent restarts on `POST <agent>/_sim/restart`: it forgets its ports and reloads them from
//! its port files (`--agent-port-dir`), as its release does.
//!
//! It runs until SIGTERM, SIGINT or SIGHUP, or until stdin reaches end-of-file when stdin is
//! watched: `--watch-stdin auto` (the default) watches it only when it is a pipe or a socket, so
//! a parent that holds the write end (a test harness) stops the emulators just by exiting, while
//! `cmd &` in a script (stdin = /dev/null) or a terminal session keeps running. The signals are
//! blocked in every thread and taken synchronously by one thread (`sigwait`), so no handler runs
//! in signal context. Then the emulators stop (listeners closed, workers joined) and it exits 0.
//!
//! `--seed FILE` is a JSON object, every key optional:
//! ```json
//! {
//!   "marathon": {"apps": [App..], "pods": [Pod..], "status": [PodStatus..]},
//!   "mesos": {"state": {..an object shaped like /master/state..}},
//!   "agent": {"port_configs": {"<vmi-uuid>": {"ip": "10.32.0.5", "plen": 12, ..}}}
//! }
//! ```
//! (the same shapes as `PUT /_sim/apps`, `PUT /_sim/pods`, `PUT /_sim/state` and
//! `PUT /_sim/port-config/<vmi>`).

use std::any::Any;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};
use nix::sys::signal::{SigSet, Signal};
use serde::Deserialize;
use serde_json::{Map, Value};

use contrail_mesos_sim::agent::{AgentOptions, AgentRelease, AgentSim, PortConfig};
use contrail_mesos_sim::config_api::{ConfigApiOptions, ConfigApiSim, ConfigHandle};
use contrail_mesos_sim::config_rest::ConfigRest;
use contrail_mesos_sim::marathon::MarathonSim;
use contrail_mesos_sim::mesos::MesosSim;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum WatchStdin {
    /// Watch stdin only when it is a pipe or a socket.
    Auto,
    /// Always stop at end-of-file on stdin.
    Yes,
    /// Never read stdin.
    No,
}

/// Run the contrail-mesos emulators (Contrail config API, vRouter agent port API, Marathon,
/// Mesos master).
#[derive(Debug, Parser)]
#[command(name = "contrail-mesos-sim", version)]
struct Args {
    /// Listen address of the Contrail config API emulator (upstream port: 8082).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:0")]
    config_api_listen: String,
    /// Do not run the config API emulator.
    #[arg(long)]
    no_config_api: bool,
    /// Use this Contrail config API (e.g. upstream's real server) instead of the emulator: the
    /// agent learns port config from it and --demo seeds it over REST; no emulator runs.
    #[arg(long, value_name = "URL", conflicts_with_all = ["no_config_api", "svc_monitor", "config_api_latency_ms"])]
    config_api: Option<String>,
    /// The config API emulator also does what contrail-svc-monitor's native load-balancer
    /// driver does: the service-appliance-sets at start, a floating IP at each native load
    /// balancer's VIP, each new member's interface and port map added to it, nothing ever
    /// taken off (implied by --demo).
    #[arg(long)]
    svc_monitor: bool,
    /// Latency the config API emulator adds to every request.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    config_api_latency_ms: u64,
    /// Seed the config API with what the demo needs: network default-domain:default-project:
    /// __public__ (10.66.77.0/24, 10.33.44.0/24) with pools __fip_pool_public__ and
    /// __fip_pool_public2__, security group security_groups_mesos, and this node's
    /// virtual-router as a real deployment has it: named --vrouter-name, at the fabric address
    /// --vrouter-address (the agent's host name is --vrouter-name too, unless --agent-host-name
    /// says otherwise); and svc-monitor's native load-balancer driver (--svc-monitor).
    #[arg(long)]
    demo: bool,
    /// Name of the seeded virtual-router (--demo) [default: this machine's host name].
    #[arg(long, value_name = "NAME")]
    vrouter_name: Option<String>,
    /// Fabric address of the seeded virtual-router (--demo).
    #[arg(long, value_name = "IP", default_value = "10.64.0.1")]
    vrouter_address: String,
    /// Listen address of the vRouter agent port API emulator (upstream port: 9091).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:0")]
    agent_listen: String,
    /// Listen address of the Marathon emulator (upstream port: 8080).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:0")]
    marathon_listen: String,
    /// Listen address of the Mesos master emulator (upstream port: 5050).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:0")]
    mesos_listen: String,
    /// The agent reports a port only this long after its POST /vm.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    agent_ready_delay_ms: u64,
    /// Contrail config API the agent learns port config from (default: the config API emulator
    /// when it runs, else none).
    #[arg(long, value_name = "URL")]
    agent_config_api: Option<String>,
    /// X-Auth-Token the agent sends to the config API.
    #[arg(long, value_name = "TOKEN")]
    agent_auth_token: Option<String>,
    /// The agent's host name: it learns only the VMs linked from the virtual-router named
    /// [default-global-system-config, NAME] (default: --vrouter-name with --demo, else this
    /// machine's host name).
    #[arg(long, value_name = "NAME")]
    agent_host_name: Option<String>,
    /// The vRouter agent release to behave as: R5.0, R5.1, R1907 .. R2005 (as R5.1), R2008,
    /// R2011 (as R2008).
    #[arg(long, value_name = "RELEASE", default_value_t = AgentRelease::default())]
    agent_release: AgentRelease,
    /// Refuse POST /vm when host-ifname is not an interface of this network namespace.
    #[arg(long)]
    agent_check_host_ifname: bool,
    /// The agent's port directory (upstream: /var/lib/contrail/ports/vm, the CNI plugin's
    /// config-dir): the agent writes its port files there as its release does, and reloads
    /// them when it restarts (POST /_sim/restart). Default: none, no port file.
    #[arg(long, value_name = "DIR")]
    agent_port_dir: Option<PathBuf>,
    /// JSON file with Marathon apps/pods, the Mesos state and seeded agent port configs.
    #[arg(long, value_name = "FILE")]
    seed: Option<PathBuf>,
    /// Print one JSON line with the emulators' URLs on stdout once they all listen.
    #[arg(long)]
    print_urls: bool,
    /// Stop at end-of-file on stdin.
    #[arg(long, value_enum, default_value = "auto")]
    watch_stdin: WatchStdin,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Seed {
    #[serde(default)]
    marathon: MarathonSeed,
    #[serde(default)]
    mesos: MesosSeed,
    #[serde(default)]
    agent: AgentSeed,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MarathonSeed {
    #[serde(default)]
    apps: Vec<Value>,
    #[serde(default)]
    pods: Vec<Value>,
    #[serde(default)]
    status: Vec<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MesosSeed {
    state: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentSeed {
    #[serde(default)]
    port_configs: BTreeMap<String, PortConfig>,
}

/// An extra emulator kept alive for the lifetime of the process, announced under `name`.
struct Extra {
    name: &'static str,
    url: String,
    _keep: Box<dyn Any>,
}

/// Start the Contrail config API emulator before the agent, so the agent can learn port config
/// from it.
fn start_config_api(args: &Args) -> Result<Option<(Extra, ConfigHandle)>> {
    if args.no_config_api || args.config_api.is_some() {
        return Ok(None);
    }
    let sim = ConfigApiSim::start(ConfigApiOptions {
        listen: args.config_api_listen.clone(),
        svc_monitor: args.svc_monitor || args.demo,
        ..ConfigApiOptions::default()
    })
    .context("config API emulator")?;
    if args.config_api_latency_ms > 0 {
        sim.set_latency(Duration::from_millis(args.config_api_latency_ms));
    }
    if args.demo {
        seed_demo(&sim, &vrouter_name(args)?, &args.vrouter_address)?;
    }
    let handle = sim.handle();
    Ok(Some((
        Extra {
            name: "config_api",
            url: sim.url(),
            _keep: Box::new(sim),
        },
        handle,
    )))
}

/// The seeded router's name: --vrouter-name, else this machine's host name.
fn vrouter_name(args: &Args) -> Result<String> {
    match &args.vrouter_name {
        Some(n) => Ok(n.clone()),
        None => Ok(nix::unistd::gethostname()
            .context("this machine's host name")?
            .to_string_lossy()
            .into_owned()),
    }
}

/// What --demo seeds: the config API emulator through its handle, another config API over REST.
trait DemoSeed {
    fn add_network(&self, fq: &[&str], subnets: &[&str]) -> Result<String>;
    fn add_fip_pool(&self, network_fq: &[&str], pool: &str) -> Result<String>;
    fn add_security_group(&self, fq: &[&str]) -> Result<String>;
    fn add_virtual_router(&self, name: &str, ip: &str) -> Result<String>;
}

macro_rules! demo_seed {
    ($t:ty) => {
        impl DemoSeed for $t {
            fn add_network(&self, fq: &[&str], subnets: &[&str]) -> Result<String> {
                <$t>::add_network(self, fq, subnets)
            }
            fn add_fip_pool(&self, network_fq: &[&str], pool: &str) -> Result<String> {
                <$t>::add_fip_pool(self, network_fq, pool)
            }
            fn add_security_group(&self, fq: &[&str]) -> Result<String> {
                <$t>::add_security_group(self, fq)
            }
            fn add_virtual_router(&self, name: &str, ip: &str) -> Result<String> {
                <$t>::add_virtual_router(self, name, ip)
            }
        }
    };
}
demo_seed!(ConfigApiSim);
demo_seed!(ConfigRest);

fn seed_demo(api: &dyn DemoSeed, vrouter: &str, ip: &str) -> Result<()> {
    let public = ["default-domain", "default-project", "__public__"];
    api.add_network(&public, &["10.66.77.0/24", "10.33.44.0/24"])
        .context("seed: public network")?;
    api.add_fip_pool(&public, "__fip_pool_public__")
        .context("seed: pool")?;
    api.add_fip_pool(&public, "__fip_pool_public2__")
        .context("seed: pool")?;
    api.add_security_group(&["default-domain", "default-project", "security_groups_mesos"])
        .context("seed: security group")?;
    api.add_virtual_router(vrouter, ip)
        .context("seed: virtual-router")?;
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("contrail-mesos-sim: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args = Args::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .target(env_logger::Target::Stderr)
        .init();

    // Block the stop signals before any thread exists, so every thread inherits the mask and
    // only the waiter below ever takes them.
    let mut stop_signals = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        stop_signals.add(s);
    }
    stop_signals
        .thread_block()
        .context("cannot block SIGINT/SIGTERM/SIGHUP")?;

    let seed = match &args.seed {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str::<Seed>(&text)
                .with_context(|| format!("{}: not a valid seed file", path.display()))?
        }
        None => Seed::default(),
    };

    let (extras, local): (Vec<Extra>, Option<ConfigHandle>) = match start_config_api(&args)? {
        Some((e, h)) => (vec![e], Some(h)),
        None => (Vec::new(), None),
    };
    if let Some(url) = &args.config_api
        && args.demo
    {
        seed_demo(
            &ConfigRest::new(url),
            &vrouter_name(&args)?,
            &args.vrouter_address,
        )
        .with_context(|| format!("seeding the config API at {url}"))?;
    }
    let config_api_url = args
        .agent_config_api
        .clone()
        .or_else(|| args.config_api.clone())
        .or_else(|| {
            extras
                .iter()
                .find(|e| e.name == "config_api")
                .map(|e| e.url.clone())
        });

    let agent = AgentSim::start(AgentOptions {
        listen: args.agent_listen.clone(),
        config_api_url,
        auth_token: args.agent_auth_token.clone(),
        // The emulated agent reads our own emulator's store directly, as a real agent answers
        // from config it already holds; --agent-config-api makes it use HTTP instead.
        config_api_local: local.filter(|_| args.agent_config_api.is_none()),
        host_name: match &args.agent_host_name {
            Some(h) => Some(h.clone()),
            None if args.demo => Some(vrouter_name(&args)?),
            None => None,
        },
        release: args.agent_release,
        ready_delay: Duration::from_millis(args.agent_ready_delay_ms),
        check_host_ifname: args.agent_check_host_ifname,
        port_dir: args.agent_port_dir.clone(),
    })
    .context("agent emulator")?;
    for (vmi, cfg) in seed.agent.port_configs {
        agent.set_port_config(&vmi, cfg);
    }
    let marathon = MarathonSim::start(&args.marathon_listen).context("Marathon emulator")?;
    marathon
        .set_apps(seed.marathon.apps)
        .context("seed: marathon.apps")?;
    marathon
        .set_pods(seed.marathon.pods, seed.marathon.status)
        .context("seed: marathon.pods/status")?;
    let mesos = MesosSim::start(&args.mesos_listen).context("Mesos emulator")?;
    if let Some(state) = seed.mesos.state {
        mesos.set_state(state).context("seed: mesos.state")?;
    }

    let mut urls = Map::new();
    urls.insert("agent".into(), agent.url().into());
    urls.insert("marathon".into(), marathon.url().into());
    urls.insert("mesos".into(), mesos.url().into());
    for e in &extras {
        urls.insert(e.name.into(), e.url.clone().into());
    }
    if let Some(url) = &args.config_api {
        urls.insert("config_api".into(), url.clone().into());
    }
    log::info!("emulators listening: {}", Value::Object(urls.clone()));
    if args.print_urls {
        let mut out = std::io::stdout().lock();
        // A closed stdout is not a reason to stop serving.
        let _ = writeln!(out, "{}", Value::Object(urls));
        let _ = out.flush();
    }

    let why = wait_for_stop(stop_signals, args.watch_stdin);
    log::info!("stopping: {why}");
    drop(mesos);
    drop(marathon);
    drop(agent);
    drop(extras);
    Ok(())
}

/// Is stdin a pipe or a socket (i.e. held open by a parent process)?
fn stdin_is_pipe() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::FileTypeExt;
    let Ok(fd) = std::io::stdin().as_fd().try_clone_to_owned() else {
        return false;
    };
    std::fs::File::from(fd)
        .metadata()
        .map(|m| m.file_type().is_fifo() || m.file_type().is_socket())
        .unwrap_or(false)
}

/// Block until a stop signal arrives or (when watched) stdin reaches end-of-file.
fn wait_for_stop(signals: SigSet, watch: WatchStdin) -> String {
    let (tx, rx) = mpsc::channel::<String>();
    let sig_tx = tx.clone();
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let why = match signals.wait() {
                Ok(sig) => format!("received {sig}"),
                Err(e) => format!("sigwait failed: {e}"),
            };
            let _ = sig_tx.send(why);
        });
    if let Err(e) = spawned {
        return format!("cannot start the signal thread: {e}");
    }
    let watch_stdin = match watch {
        WatchStdin::Yes => true,
        WatchStdin::No => false,
        WatchStdin::Auto => stdin_is_pipe(),
    };
    if watch_stdin {
        let spawned = std::thread::Builder::new()
            .name("stdin".into())
            .spawn(move || {
                let mut stdin = std::io::stdin().lock();
                let mut buf = [0u8; 4096];
                let why = loop {
                    match stdin.read(&mut buf) {
                        Ok(0) => break "end of file on stdin".to_string(),
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => break format!("reading stdin failed: {e}"),
                    }
                };
                let _ = tx.send(why);
            });
        if let Err(e) = spawned {
            log::warn!("cannot watch stdin: {e}");
        }
    } else {
        drop(tx);
    }
    rx.recv()
        .unwrap_or_else(|_| "all stop sources are gone".to_string())
}
