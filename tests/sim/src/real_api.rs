//! Upstream's real Contrail config API server (`vnc_cfg_api_server`), alone or with upstream's
//! schema transformer and svc-monitor, on the in-memory fakes upstream's own unit tests use:
//! started through the project's launcher, `tools/contrail-api-server/launch.py`, for tests,
//! benchmarks and the demo.
//!
//! The launcher runs a kit (a Python venv and upstream's packages) it finds through
//! `CONTRAIL_API_KIT`, else `CONTRAIL_API_ROOT`, else `${XDG_CACHE_HOME:-~/.cache}/contrail-api-server`:
//! `tools/contrail-api-server/build.sh` builds one from upstream's sources. A server holds its
//! state in the process: each start is a fresh cluster with what upstream makes at start
//! (`default-domain`, `default-project`, the default IPAM, `ip-fabric`, ...).
//!
//! The server watches its stdin: it stops when this handle is dropped, and also when the process
//! holding the handle ends without dropping it (a `static` in a test binary).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

/// How long a start may take: about 5 s on an idle 2-core machine, more under a loaded test run.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// What to run beside the API server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RealApiOptions {
    /// Also run upstream's schema transformer and svc-monitor (native load-balancer driver).
    pub daemons: bool,
}

/// A running server. Dropping it stops it (SIGTERM, then SIGKILL after 5 s) and removes its
/// work directory, unless `CONTRAIL_API_KEEP_LOGS` is set.
pub struct RealApi {
    child: Child,
    /// Held open: the launcher stops at end of file on its stdin.
    _stdin: ChildStdin,
    port: u16,
    work: PathBuf,
    running: String,
}

/// The project's launcher.
pub fn launcher() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/contrail-api-server/launch.py")
}

/// Where the launcher looks for the kit, and why (for messages).
pub fn kit_dir() -> (PathBuf, &'static str) {
    for var in ["CONTRAIL_API_KIT", "CONTRAIL_API_ROOT"] {
        if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            return (PathBuf::from(v), var);
        }
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/root/.cache"));
    (cache.join("contrail-api-server"), "the default")
}

impl RealApi {
    /// Start a server and wait until it answers (and its daemons run). The error says what
    /// failed, with the end of the launcher's output.
    pub fn start(opts: RealApiOptions) -> Result<RealApi> {
        let (kit, source) = kit_dir();
        if !kit.join("pylib/vnc_cfg_api_server").is_dir() {
            bail!(
                "no upstream config API server kit at {} ({source}): set CONTRAIL_API_KIT, run \
                 `make real-api-kit`, or tools/contrail-api-server/build.sh",
                kit.display()
            );
        }
        let work = std::env::temp_dir().join(format!(
            "contrail-api-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
        let log = work.join("launcher.log");
        let stderr =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut cmd = Command::new("python3");
        cmd.arg(launcher())
            .args(["--port", "0", "--watch-stdin", "--work-dir"])
            .arg(&work)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr);
        if opts.daemons {
            cmd.arg("--daemons");
        }
        if std::env::var_os("CONTRAIL_API_KEEP_LOGS").is_none() {
            cmd.arg("--remove-work-dir");
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("running python3 {}", launcher().display()))?;
        let stdin = child.stdin.take().context("the launcher's stdin")?;
        let stdout = child.stdout.take().context("the launcher's stdout")?;
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            // Keep reading so the launcher never blocks on a full pipe.
            for _ in lines {}
        });
        let started = Instant::now();
        // A start that fails: the launcher stopped, the end of its log in the error, its work
        // directory removed (kept with CONTRAIL_API_KEEP_LOGS).
        let failed = |child: &mut Child, what: String| {
            let _ = child.kill();
            let _ = child.wait();
            if std::env::var_os("CONTRAIL_API_KEEP_LOGS").is_some() {
                return anyhow!("{what}: {} (log {})", tail(&log), log.display());
            }
            let why = anyhow!("{what}: {}", tail(&log));
            let _ = std::fs::remove_dir_all(&work);
            why
        };
        let ready = loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => break line,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(failed(
                        &mut child,
                        "the launcher ended before it was ready".into(),
                    ));
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(failed(&mut child, format!("the launcher ended ({status})")));
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(failed(
                    &mut child,
                    format!("the launcher was not ready after {START_TIMEOUT:?}"),
                ));
            }
        };
        // READY <port> <work dir> <what runs>
        let mut words = ready.split_whitespace();
        let port = match (
            words.next(),
            words.next().and_then(|p| p.parse::<u16>().ok()),
        ) {
            (Some("READY"), Some(port)) => port,
            _ => {
                return Err(failed(
                    &mut child,
                    format!("the launcher said {ready:?}, not READY <port> ..."),
                ));
            }
        };
        let running = words.skip(1).collect::<Vec<_>>().join(" ");
        log::info!(
            "upstream config API server on port {port} ({running}) after {:?}, logs in {}",
            started.elapsed(),
            work.display()
        );
        Ok(RealApi {
            child,
            _stdin: stdin,
            port,
            work,
            running,
        })
    }

    /// `http://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process (for its CPU time and memory).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What runs in it: `api_server`, and `schema_transformer`, `svc_monitor` with the daemons.
    pub fn running(&self) -> &str {
        &self.running
    }

    /// The directory with its logs (`api_server.log`, `schema_transformer.log`, ...).
    pub fn work_dir(&self) -> &Path {
        &self.work
    }

    /// CPU time the server's process has used so far (user + system).
    pub fn cpu_time(&self) -> Option<Duration> {
        cpu_time(self.child.id())
    }
}

/// User + system CPU time of a process, from `/proc/<pid>/stat`.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|h| *h > 0)
        .unwrap_or(100) as u64;
    Some(Duration::from_millis(ticks * 1000 / hz))
}

/// The last lines of a log, for an error message.
fn tail(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.contains("SyntaxWarning") && !l.trim_start().starts_with("if "))
        .collect();
    let from = lines.len().saturating_sub(15);
    lines[from..].join("\n")
}

impl Drop for RealApi {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::env::var_os("CONTRAIL_API_KEEP_LOGS").is_none() {
            let _ = std::fs::remove_dir_all(&self.work);
        }
    }
}
