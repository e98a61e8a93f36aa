//! The `manager` applet: turns task/pod requests into Contrail objects, synchronously, and
//! keeps Contrail in sync with what Mesos runs.

pub mod add;
pub mod metrics;
pub mod provision;
pub mod reconcile;
pub mod routes;
pub mod service;
pub mod teardown;
pub mod vip;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::clients::contrail::config_api::{ApiOptions, ConfigApi};
use crate::domain::settings::Settings;
pub use service::Service;

/// `contrail-mesos manager`: flags override the ini file.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ManagerArgs {
    /// The ini file (upstream's contrail-mesos.conf keys plus ours; see the man page).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Listen address ([MESOS] mesos_cni_server).
    #[arg(long, value_name = "IP")]
    pub listen: Option<String>,
    /// Listen port ([MESOS] mesos_cni_port).
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Cluster name ([MESOS] mesos_cluster_name).
    #[arg(long, value_name = "NAME")]
    pub cluster_name: Option<String>,
    /// Config API hosts or URLs, comma separated, tried in order ([VNC] vnc_endpoint_ip).
    #[arg(long, value_name = "HOSTS", value_delimiter = ',')]
    pub vnc_endpoint: Vec<String>,
    /// Config API port ([VNC] vnc_endpoint_port).
    #[arg(long, value_name = "PORT")]
    pub vnc_port: Option<u16>,
    /// Mesos master URL for reconciliation ([MESOS] mesos_master_url).
    #[arg(long, value_name = "URL")]
    pub mesos_master_url: Option<String>,
    /// Marathon URL ([MESOS] marathon_url).
    #[arg(long, value_name = "URL")]
    pub marathon_url: Option<String>,
    /// Seconds between reconciliation runs, 0 = off ([MESOS] reconcile_interval).
    #[arg(long, value_name = "SECONDS")]
    pub reconcile_interval: Option<f64>,
    /// Seconds a container VM must exist before it may be removed ([MESOS] reconcile_grace).
    #[arg(long, value_name = "SECONDS")]
    pub reconcile_grace: Option<f64>,
    /// Seconds between VIP passes, 0 = no VIPs ([MESOS] vip_sync_interval).
    #[arg(long, value_name = "SECONDS")]
    pub vip_sync_interval: Option<f64>,
    /// File with the bearer token clients must send ([MESOS] token_file).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Request worker threads ([MESOS] workers).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Log level ([DEFAULTS] log_level).
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Log file ([DEFAULTS] log_file); stderr when absent.
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
}

impl ManagerArgs {
    /// The settings: the file (if any), then the flags.
    pub fn settings(&self) -> Result<Settings> {
        let mut s = match &self.config {
            Some(p) => Settings::load(p)?,
            None => Settings::default(),
        };
        if let Some(v) = &self.listen {
            s.listen_ip = v.clone();
        }
        if let Some(v) = self.port {
            s.listen_port = v;
        }
        if let Some(v) = &self.cluster_name {
            s.cluster_name = v.clone();
        }
        if !self.vnc_endpoint.is_empty() {
            s.vnc_endpoints = self.vnc_endpoint.clone();
        }
        if let Some(v) = self.vnc_port {
            s.vnc_port = v;
        }
        if let Some(v) = &self.mesos_master_url {
            s.mesos_master_url = Some(v.trim_end_matches('/').to_string());
        }
        if let Some(v) = &self.marathon_url {
            s.marathon_url = Some(v.trim_end_matches('/').to_string());
        }
        for (flag, value, slot) in [
            (
                "--reconcile-interval",
                self.reconcile_interval,
                &mut s.reconcile_interval,
            ),
            (
                "--reconcile-grace",
                self.reconcile_grace,
                &mut s.reconcile_grace,
            ),
            (
                "--vip-sync-interval",
                self.vip_sync_interval,
                &mut s.vip_sync_interval,
            ),
        ] {
            if let Some(v) = value {
                if !v.is_finite() || v < 0.0 {
                    bail!("{flag} {v} must be 0 or more seconds");
                }
                *slot = Duration::from_secs_f64(v);
            }
        }
        if let Some(v) = &self.token_file {
            s.token_file = Some(v.clone());
        }
        if let Some(v) = self.workers {
            s.workers = v.clamp(1, 1024);
        }
        if let Some(v) = &self.log_level {
            s.log_level = Some(v.clone());
        }
        if let Some(v) = &self.log_file {
            s.log_file = Some(v.clone());
        }
        s.validate()?;
        Ok(s)
    }
}

/// A manager running in this process.
pub struct Running {
    pub service: Arc<Service>,
    server: crate::http::server::Server,
    stop: Arc<AtomicBool>,
    reconciler: Option<JoinHandle<()>>,
    vips: Option<vip::VipLoop>,
}

impl Running {
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Wait (at most `timeout`) for the first provisioning attempt to end.
    pub fn wait_provisioned(&self, timeout: Duration) -> service::Provisioning {
        self.service.wait_provisioned(timeout)
    }

    /// Run a VIP pass now, as a Marathon event would (no-op when VIPs are off).
    pub fn poke_vips(&self) {
        if let Some(v) = &self.vips {
            v.poke();
        }
    }

    pub fn shutdown(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.reconciler.take() {
            t.thread().unpark();
            let _ = t.join();
        }
        if let Some(v) = self.vips.take() {
            v.join();
        }
        self.server.shutdown();
    }
}

/// Start serving: provision the cluster (retried in the background if Contrail is not up
/// yet), start reconciliation and the VIP loop, listen.
pub fn start(settings: Settings) -> Result<Running> {
    settings.validate()?;
    let token = settings
        .token_file
        .as_deref()
        .map(crate::domain::settings::read_token)
        .transpose()?;
    let api = ConfigApi::new(ApiOptions::from_settings(&settings)).context("config API client")?;
    let svc = Service::new(api, settings);
    let stop = Arc::new(AtomicBool::new(false));
    {
        let svc = Arc::clone(&svc);
        let stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("provision".into())
            .spawn(move || {
                let mut pause = Duration::from_millis(500);
                while !stop.load(Ordering::SeqCst) {
                    let failed: Vec<String> = match provision::provision(&svc) {
                        Ok(p) if p.incomplete.is_empty() => {
                            log::info!(
                                "cluster {} provisioned: networks {} and {}, policies {}, {} \
                                 and {}",
                                svc.settings.cluster_name,
                                svc.settings.pod_task_network(),
                                svc.settings.service_network(),
                                svc.settings.ip_fabric_policy(),
                                svc.settings.pod_service_policy(),
                                svc.settings.service_policy()
                            );
                            svc.set_provisioning(service::Provisioning::Done);
                            return;
                        }
                        Ok(p) => p.incomplete.into_iter().map(|e| e.msg).collect(),
                        Err(e) => vec![e.msg],
                    };
                    log::warn!(
                        "provisioning the cluster: {}; retrying in {pause:?}",
                        failed.join("; ")
                    );
                    svc.set_provisioning(service::Provisioning::Failed(failed));
                    // Sleep in short steps so that shutting down does not wait for a long pause.
                    let until = std::time::Instant::now() + pause;
                    while !stop.load(Ordering::SeqCst) && std::time::Instant::now() < until {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    pause = (pause * 2).min(Duration::from_secs(30));
                }
            })
            .context("cannot start the provisioning thread")?;
    }
    let reconciler = reconciler(&svc, &stop)?;
    let listen =
        crate::domain::endpoint::host_port(&svc.settings.listen_ip, svc.settings.listen_port);
    let server = crate::http::server::Server::start(
        &listen,
        svc.settings.workers,
        1024 * 1024,
        routes::handler(Arc::clone(&svc), token),
    )?;
    let vips = vip::start(&svc, &stop)?;
    log::info!(
        "manager for cluster {} listening on {} (config API {})",
        svc.settings.cluster_name,
        server.url(),
        svc.settings.vnc_urls().join(", ")
    );
    Ok(Running {
        service: svc,
        server,
        stop,
        reconciler,
        vips,
    })
}

fn reconciler(svc: &Arc<Service>, stop: &Arc<AtomicBool>) -> Result<Option<JoinHandle<()>>> {
    let interval = svc.settings.reconcile_interval;
    if interval.is_zero() {
        log::info!("reconciliation is off (reconcile_interval = 0)");
        return Ok(None);
    }
    let Some(url) = svc.settings.mesos_master_url.clone() else {
        log::warn!("reconciliation is off: no [MESOS] mesos_master_url");
        return Ok(None);
    };
    let master = crate::clients::mesos::MesosMaster::new(&url, Duration::from_secs(30))?;
    let svc = Arc::clone(svc);
    let stop = Arc::clone(stop);
    let handle = std::thread::Builder::new()
        .name("reconcile".into())
        .spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                std::thread::park_timeout(interval);
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                match reconcile::run_once(&svc, &master) {
                    Ok(r) if !r.deleted.is_empty() || !r.failed.is_empty() => log::info!(
                        "reconciliation: {} container VMs, {} running, {} removed, {} failed",
                        r.examined,
                        r.alive,
                        r.deleted.len(),
                        r.failed.len()
                    ),
                    Ok(_) => {}
                    Err(e) => log::warn!("{e:#}"),
                }
            }
        })
        .context("cannot start the reconciliation thread")?;
    Ok(Some(handle))
}

/// The applet: start, then serve until SIGTERM or SIGINT.
pub fn run(args: &ManagerArgs) -> Result<()> {
    let settings = args.settings()?;
    crate::sys::malloc::limit_arenas(2);
    crate::sys::logging::init(
        settings.log_level.as_deref(),
        settings.log_file.as_deref(),
        log::LevelFilter::Info,
        true,
    );
    for note in &settings.notes {
        log::warn!("{note}");
    }
    let signals = crate::sys::signals::block_termination()?;
    let running = start(settings)?;
    let sig = crate::sys::signals::wait(&signals)?;
    log::info!("{sig}: shutting down");
    running.shutdown();
    Ok(())
}
