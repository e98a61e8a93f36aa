//! Records an older install kept at `config-dir/<container-id>/<vmi-uuid>`, moved into the
//! plugin's own directory (`portfile`) once per node: by the first run that finds no
//! `config-dir/.contrail-mesos`, under an `flock` of `config-dir`, before anything uses the new
//! place (a container lock needs that directory, so every other run waits on this one).
//!
//! The old place is where the vRouter agent keeps its own port files too
//! (`port_ipc_handler.cc` `WriteJsonToFile`: R5.1 .. R2005 `<vm-uuid>/<vmi-uuid>`, R2008 on
//! `<vm-name>/<vmi-uuid>`; a Mesos container id is both the VM's uuid and its name), and R5.0
//! keeps its file at `<vm-uuid>`, where the old directory stood. An old record, written before
//! the agent's `POST /vm`, took the agent's path, and `WriteJsonToFile` writes only where
//! nothing is: the agent has no file of its own for such a port. So, per container:
//! 1. its records are copied to the new place (into a staging directory that one rename
//!    publishes when every container is done: a crash meanwhile loses nothing, the next run
//!    goes on with it);
//! 2. the old records (and the old writer's temp files) are removed, and the ports whose host
//!    interface still exists are registered with the agent again: `POST /vm` of a port it
//!    holds changes nothing but writes its port file where none is (R5.1 on: the path the
//!    record freed);
//! 3. the old directory is removed only when empty (`rmdir`, never recursively), so a
//!    directory the agent keeps its files in stays; when it went (R5.0, whose file path it
//!    took), the ports are registered once more so that the agent writes its file there.
//!
//! When the agent refuses or cannot be reached, the old records are put back (with R5.1 on
//! they are the agent's port files) and only the copies move; once it cannot be reached, the
//! other containers' old records stay as well, without waiting for it again.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::portfile;
use crate::clients::contrail::agent::{AddPortMsg, AgentClient, AgentError};
use crate::domain::ids::valid_container_id;

/// Where the copies wait until they are published as `portfile::RECORDS_DIR`.
const STAGING: &str = ".contrail-mesos.migrating";

/// Whether a file in `config-dir/<dir>/` is a record of the older install: the old plugin
/// wrote `config-dir/<vm-id>/<vmi-uuid>`. (The agent's own files there are the same shape;
/// those of another container, e.g. R5.1's `<vm-uuid>/` of a container whose id is not a
/// uuid, name another `vm-id` and stay.)
fn is_old_record(dir: &str, file: &str, msg: &AddPortMsg) -> bool {
    valid_container_id(dir) && msg.vm_id == dir && msg.vmi_uuid == file
}

/// The old writer's temp file, `.<vmi-uuid>.tmp.<pid>` (left by a crash).
fn is_old_temp(file: &str) -> bool {
    file.strip_prefix('.')
        .and_then(|f| f.rsplit_once(".tmp."))
        .is_some_and(|(name, pid)| {
            !name.is_empty() && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())
        })
}

/// A record of the older install, as read.
struct OldRecord {
    path: PathBuf,
    bytes: Vec<u8>,
    msg: AddPortMsg,
}

/// What the older install left for one container.
#[derive(Default)]
struct OldContainer {
    records: Vec<OldRecord>,
    temps: Vec<PathBuf>,
}

/// Make sure the records are where this version keeps them: nothing to do once
/// `config-dir/.contrail-mesos` exists; else move an older install's records there.
pub fn ensure(config_dir: &Path, agent: &AgentClient) -> Result<()> {
    let records = portfile::records_dir(config_dir);
    if records.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(config_dir)
        .with_context(|| format!("cannot create port directory {}", config_dir.display()))?;
    let node = fs::File::open(config_dir)
        .with_context(|| format!("cannot open port directory {}", config_dir.display()))?;
    let _lock = nix::fcntl::Flock::lock(node, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, errno)| errno)
        .with_context(|| format!("cannot lock port directory {}", config_dir.display()))?;
    if records.is_dir() {
        // Another run did it while we waited.
        return Ok(());
    }
    let staging = config_dir.join(STAGING);
    fs::create_dir_all(&staging)
        .with_context(|| format!("cannot create port directory {}", staging.display()))?;
    let mut moved = 0;
    // Once the agent cannot be reached, the other containers are not made to wait for it:
    // their old records stay too.
    let mut agent_reached = true;
    for (cid, dir) in old_dirs(config_dir)? {
        let old = read_old(&cid, &dir)?;
        if old.records.is_empty() && old.temps.is_empty() {
            continue;
        }
        let target = staging.join(&cid);
        fs::create_dir_all(&target)
            .with_context(|| format!("cannot create port directory {}", target.display()))?;
        for r in &old.records {
            // A copy made by a run that crashed later is the same record.
            if !target.join(&r.msg.vmi_uuid).exists() {
                portfile::write_bytes(&target, &r.msg.vmi_uuid, &r.bytes)?;
            }
        }
        moved += old.records.len();
        if agent_reached {
            agent_reached = hand_back(agent, &cid, &dir, &old);
        } else {
            log::warn!(
                "container {cid}: the vRouter agent at {} could not be reached; its port records stay in {} too",
                agent.base(),
                dir.display()
            );
        }
    }
    fs::rename(&staging, &records).with_context(|| {
        format!(
            "cannot rename {} to {}",
            staging.display(),
            records.display()
        )
    })?;
    if moved > 0 {
        log::info!(
            "moved {moved} port record(s) of an older install from {}/<container id>/ to {}",
            config_dir.display(),
            records.display()
        );
    }
    Ok(())
}

/// The directories of `config-dir` an older install may have made: named by a valid
/// container id (so never a dot-directory), not symbolic links.
fn old_dirs(config_dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let list = fs::read_dir(config_dir)
        .with_context(|| format!("cannot list port directory {}", config_dir.display()))?;
    let mut out = Vec::new();
    for entry in list.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if valid_container_id(&name) && entry.file_type().is_ok_and(|t| t.is_dir()) {
            out.push((name, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

fn read_old(cid: &str, dir: &Path) -> Result<OldContainer> {
    let list = fs::read_dir(dir)
        .with_context(|| format!("cannot list port directory {}", dir.display()))?;
    let mut old = OldContainer::default();
    for entry in list.flatten() {
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_old_temp(&name) {
            old.temps.push(entry.path());
            continue;
        }
        let Ok(bytes) = fs::read(entry.path()) else {
            continue;
        };
        match serde_json::from_slice::<AddPortMsg>(&bytes) {
            Ok(msg) if is_old_record(cid, &name, &msg) => old.records.push(OldRecord {
                path: entry.path(),
                bytes,
                msg,
            }),
            _ => {}
        }
    }
    Ok(old)
}

/// Steps 2 and 3 of the module's description, for one container. Failures are logged: the
/// records have their copies already. `false` when the agent could not be reached.
fn hand_back(agent: &AgentClient, cid: &str, dir: &Path, old: &OldContainer) -> bool {
    for t in &old.temps {
        let _ = fs::remove_file(t);
    }
    let live: Vec<&AddPortMsg> = old
        .records
        .iter()
        .map(|r| &r.msg)
        .filter(|m| nix::net::if_::if_nametoindex(m.host_ifname.as_str()).is_ok())
        .collect();
    let mut removed = Vec::new();
    for r in &old.records {
        match fs::remove_file(&r.path) {
            Ok(()) => removed.push(r),
            Err(e) => log::warn!("cannot remove old port record {}: {e}", r.path.display()),
        }
    }
    if let Err(e) = register(agent, &live) {
        for r in removed {
            if let Err(e) = fs::write(&r.path, &r.bytes) {
                log::warn!("cannot put back port file {}: {e}", r.path.display());
            }
        }
        log::warn!(
            "container {cid}: {}; its port records stay in {} too",
            registering(agent, &e),
            dir.display()
        );
        return !matches!(e.1, AgentError::Unreachable(_));
    }
    if fs::remove_dir(dir).is_ok()
        && let Err(e) = register(agent, &live)
    {
        log::warn!(
            "container {cid}: {}; the agent may have no port file of its own for it until it is registered again",
            registering(agent, &e)
        );
        return !matches!(e.1, AgentError::Unreachable(_));
    }
    true
}

/// `POST /vm` of each port; the first that fails, and why.
fn register<'a>(
    agent: &AgentClient,
    ports: &[&'a AddPortMsg],
) -> Result<(), (&'a AddPortMsg, AgentError)> {
    for m in ports {
        agent.add_port(m).map_err(|e| (*m, e))?;
    }
    Ok(())
}

fn registering(agent: &AgentClient, (m, e): &(&AddPortMsg, AgentError)) -> String {
    format!(
        "vRouter agent at {}: registering port {} again: {e}",
        agent.base(),
        m.vmi_uuid
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(cid: &str, vmi: &str, tap: &str) -> AddPortMsg {
        AddPortMsg {
            time: "t".into(),
            vm_id: cid.into(),
            vm_uuid: "11111111-1111-4111-8111-111111111111".into(),
            vm_name: cid.into(),
            host_ifname: tap.into(),
            vm_ifname: "eth0".into(),
            vm_namespace: "/ns".into(),
            vn_uuid: "22222222-2222-4222-8222-222222222222".into(),
            vmi_uuid: vmi.into(),
        }
    }

    #[test]
    fn which_files_are_old_records() {
        let m = msg("c1", "vmi0", "tap0");
        assert!(is_old_record("c1", "vmi0", &m));
        assert!(
            !is_old_record("c1", "vmi1", &m),
            "named after another interface"
        );
        assert!(
            !is_old_record("c2", "vmi0", &m),
            "another container's (an agent's directory)"
        );
        assert!(
            !is_old_record(".c1", "vmi0", &msg(".c1", "vmi0", "t")),
            "not a container id"
        );
        assert!(is_old_temp(".vmi0.tmp.1234"));
        for name in [
            "vmi0",
            ".vmi0",
            ".vmi0.tmp.",
            ".vmi0.tmp.12a",
            "..tmp.1",
            "vmi0.tmp.1",
        ] {
            assert!(!is_old_temp(name), "{name}");
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("cm-migrate-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).expect("mkdir");
        d
    }

    /// An agent that cannot be reached.
    fn no_agent() -> AgentClient {
        AgentClient::new("http://127.0.0.1:1", std::time::Duration::from_secs(1)).expect("client")
    }

    /// An older install's record of `c1`'s `vmi0` on host interface `tap`: its directory and
    /// the record.
    fn old_install(root: &Path, tap: &str) -> (PathBuf, Vec<u8>) {
        let old = root.join("c1");
        fs::create_dir_all(&old).expect("mkdir");
        let rec = serde_json::to_vec(&msg("c1", "vmi0", tap)).expect("json");
        fs::write(old.join("vmi0"), &rec).expect("write");
        (old, rec)
    }

    #[test]
    fn records_of_gone_ports_move_and_their_directories_go() {
        let root = scratch("gone");
        let (old, rec) = old_install(&root, "tapisgone");
        fs::write(old.join(".vmi1.tmp.77"), b"{").expect("write");
        // Not the older install's: an agent's file of another VM, a file of another shape.
        let agents = root.join("33333333-3333-4333-8333-333333333333");
        fs::create_dir_all(&agents).expect("mkdir");
        let theirs = serde_json::to_vec(&msg("c9", "vmi9", "tap9")).expect("json");
        fs::write(agents.join("vmi9"), &theirs).expect("write");
        fs::write(root.join("44444444-4444-4444-8444-444444444444"), b"{}").expect("write");

        ensure(&root, &no_agent()).expect("migrates");
        let moved = portfile::read_container(&root, "c1").expect("read");
        assert_eq!(moved.len(), 1);
        assert_eq!(fs::read(&moved[0].path).expect("read"), rec);
        assert!(
            !old.exists(),
            "no live port to hand back: the emptied directory goes"
        );
        assert_eq!(fs::read(agents.join("vmi9")).expect("kept"), theirs);
        assert!(root.join("44444444-4444-4444-8444-444444444444").is_file());
        assert!(!root.join(STAGING).exists());
        // Done once: a second run changes nothing.
        ensure(&root, &no_agent()).expect("again");
        assert_eq!(
            portfile::read_container(&root, "c1").expect("read").len(),
            1
        );
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn an_unreachable_agent_keeps_the_old_records_too() {
        let root = scratch("unreachable");
        // `lo` exists: a live port, which the agent must be told of again.
        let (old, rec) = old_install(&root, "lo");
        ensure(&root, &no_agent()).expect("migrates");
        assert_eq!(
            portfile::read_container(&root, "c1").expect("read").len(),
            1
        );
        assert_eq!(fs::read(old.join("vmi0")).expect("put back"), rec);
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn once_the_agent_cannot_be_reached_no_other_container_waits_for_it() {
        let root = scratch("unreachable2");
        let (old, rec) = old_install(&root, "lo");
        let old2 = root.join("c2");
        fs::create_dir_all(&old2).expect("mkdir");
        let rec2 = serde_json::to_vec(&msg("c2", "vmi2", "lo")).expect("json");
        fs::write(old2.join("vmi2"), &rec2).expect("write");
        // An agent that takes connections and never answers: each try waits for the timeout.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
        let url = format!("http://{}", silent.local_addr().expect("addr"));
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = std::sync::Arc::clone(&done);
        let tries = std::thread::spawn(move || {
            silent.set_nonblocking(true).expect("non-blocking listener");
            let mut held = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                if let Ok((conn, _)) = silent.accept() {
                    held.push(conn);
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            held.len()
        });
        let agent = AgentClient::new(&url, std::time::Duration::from_secs(1)).expect("client");
        ensure(&root, &agent).expect("migrates");
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(
            tries.join().expect("listener"),
            1,
            "the agent was tried once"
        );
        assert_eq!(fs::read(old.join("vmi0")).expect("put back"), rec);
        assert_eq!(fs::read(old2.join("vmi2")).expect("kept"), rec2);
        assert_eq!(
            portfile::read_container(&root, "c2").expect("read").len(),
            1
        );
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn a_crashed_run_is_resumed() {
        let root = scratch("resume");
        // A run copied c1's record and removed the old one, then died before publishing.
        let staged = root.join(STAGING).join("c1");
        fs::create_dir_all(&staged).expect("mkdir");
        let rec = serde_json::to_vec(&msg("c1", "vmi0", "tapisgone")).expect("json");
        fs::write(staged.join("vmi0"), &rec).expect("write");
        ensure(&root, &no_agent()).expect("migrates");
        assert_eq!(
            portfile::read_container(&root, "c1").expect("read").len(),
            1
        );
        assert!(!root.join(STAGING).exists());
        let _ = fs::remove_dir_all(&root);
    }
}
