//! The plugin's records of its ports: `config-dir/.contrail-mesos/<container-id>/<vmi-uuid>`,
//! one per interface, holding the agent request (with `vm-id`, the container id, for the
//! stale-DEL guard). Written atomically: a reader (DEL, GC, CHECK) never sees a partial file.
//!
//! `config-dir` (`/var/lib/contrail/ports/vm`) is the vRouter agent's own port directory: its
//! `PortIpcHandler` writes, reloads and removes its files there (Juniper/contrail-controller
//! `src/vnsw/agent/port_ipc/port_ipc_handler.cc`, `WriteJsonToFile`, `ReloadAllPorts`,
//! `DeleteVmVnPort`). The records sit where no release looks:
//! - R5.0 writes and removes the regular file `<vm-uuid>`, and reloads regular files named by
//!   a uuid (`IsUUID`): `.contrail-mesos` is a directory.
//! - R5.1 .. R2005 write `<vm-uuid>/<vmi-uuid>`, remove `<vm-uuid>/` whole, and reload the
//!   directories named by a uuid: `.contrail-mesos` is none (`StringToUuid` of a name that
//!   starts with `.` is nil).
//! - R2008 and R2011 write `<vm-name>/<vmi-uuid>` (the plugin's VM names are container ids,
//!   which never start with `.`), remove `<vm-uuid>/` whole, and reload every directory, dot
//!   ones too, one level deep: the regular files named by a uuid directly in it.
//!   `.contrail-mesos` holds only directories (one per container), never such a file.
//!
//! So the agent's DELETE of a VM never takes the plugin's records, its files never shadow
//! them, and an agent restart (any release) brings back exactly the ports the agent wrote
//! itself. Records an older install kept at `config-dir/<container-id>/` are moved here once
//! (`migrate`).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::clients::contrail::agent::AddPortMsg;

/// The plugin's own directory in `config-dir`.
pub const RECORDS_DIR: &str = ".contrail-mesos";

/// A port file read back.
#[derive(Debug, Clone)]
pub struct PortFile {
    pub path: PathBuf,
    /// The content, or why it cannot be read.
    pub msg: Result<AddPortMsg, String>,
}

impl PortFile {
    /// Whether this file records the container interface `ifname`: its content says so, or,
    /// unreadable (left empty by a crash), it bears the name of the interface's derived
    /// uuid `vmi_uuid`.
    pub fn records(&self, ifname: &str, vmi_uuid: &str) -> bool {
        match &self.msg {
            Ok(m) => m.vm_ifname == ifname,
            Err(_) => self.path.file_name().is_some_and(|n| n == vmi_uuid),
        }
    }
}

/// `config-dir/.contrail-mesos`.
pub fn records_dir(config_dir: &Path) -> PathBuf {
    config_dir.join(RECORDS_DIR)
}

/// The records of one container (also its lock, [`ContainerLock`]).
pub fn container_dir(config_dir: &Path, cid: &str) -> PathBuf {
    records_dir(config_dir).join(cid)
}

/// Write the record `<container dir>/<vmi-uuid>` of `msg` (its `vm-id` names the container,
/// whose directory the caller's [`ContainerLock`] made).
pub fn write(config_dir: &Path, msg: &AddPortMsg) -> Result<PathBuf> {
    let body = serde_json::to_vec_pretty(msg).context("encoding the port file")?;
    write_bytes(&container_dir(config_dir, &msg.vm_id), &msg.vmi_uuid, &body)
}

/// Write `dir/name` atomically: a temp file named with a leading `.` (never read as a
/// record), then a rename.
pub fn write_bytes(dir: &Path, name: &str, body: &[u8]) -> Result<PathBuf> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    // The rename makes the whole file visible at once. Not synced to disk, like upstream's
    // plugin: the file lives as long as its container, which a host crash ends, so a file
    // lost or left empty by a crash only names a port that is gone; DEL removes it
    // (`PortFile::records`) and readers skip what they cannot parse.
    let result = (|| -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(body)?;
        fs::rename(&tmp, &path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write port file {}", path.display()));
    }
    Ok(path)
}

/// Every port file of a container; none when its directory does not exist.
pub fn read_container(config_dir: &Path, cid: &str) -> Result<Vec<PortFile>> {
    read_dir_files(&container_dir(config_dir, cid))
}

fn read_dir_files(dir: &Path) -> Result<Vec<PortFile>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot list port directory {}", dir.display()));
        }
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry =
            entry.with_context(|| format!("cannot list port directory {}", dir.display()))?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') || !entry.path().is_file() {
            continue;
        }
        let path = entry.path();
        let msg = fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<AddPortMsg>(&b).map_err(|e| e.to_string()));
        out.push(PortFile { path, msg });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Every record of every container (GC).
pub fn read_all(config_dir: &Path) -> Result<Vec<PortFile>> {
    let dir = records_dir(config_dir);
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot list port directory {}", dir.display()));
        }
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        if entry.path().is_dir() {
            out.extend(read_dir_files(&entry.path())?);
        }
    }
    Ok(out)
}

/// The exclusive lock of one container's ports on this node: its records and what the agent
/// holds for it. The agent cannot remove one interface, so a DEL drops the VM and registers its
/// other ports again; an ADD or DEL of another interface of the same container must not run in
/// between. Held on the container's record directory (an `flock`), which is created for it and
/// removed when it is left empty.
pub struct ContainerLock {
    dir: PathBuf,
    _lock: nix::fcntl::Flock<fs::File>,
}

/// Why a [`ContainerLock`] was not taken.
#[derive(Debug)]
pub enum LockError {
    /// `config-dir/.contrail-mesos` does not exist: the first run of this version on the node
    /// (`migrate::ensure` makes it).
    NoRecordsDir(PathBuf),
    Io(anyhow::Error),
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::NoRecordsDir(d) => {
                write!(f, "port directory {} does not exist", d.display())
            }
            LockError::Io(e) => write!(f, "{e:#}"),
        }
    }
}

impl ContainerLock {
    pub fn acquire(config_dir: &Path, cid: &str) -> Result<ContainerLock, LockError> {
        use std::os::unix::fs::MetadataExt;
        let dir = container_dir(config_dir, cid);
        let io = |e: std::io::Error, what: &str| {
            LockError::Io(
                anyhow::Error::new(e)
                    .context(format!("cannot {what} port directory {}", dir.display())),
            )
        };
        loop {
            match fs::create_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(LockError::NoRecordsDir(records_dir(config_dir)));
                }
                Err(e) => return Err(io(e, "create")),
            }
            let f = match fs::File::open(&dir) {
                Ok(f) => f,
                // Removed by the holder of the lock since: make it again.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(e, "open")),
            };
            let lock = nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
                .map_err(|(_, errno)| io(errno.into(), "lock"))?;
            // The directory may have been removed (and made again) while we waited: the lock
            // counts only on the directory the path names now.
            let held = lock.metadata().map_err(|e| io(e, "stat"))?;
            match fs::metadata(&dir) {
                Ok(now) if now.dev() == held.dev() && now.ino() == held.ino() => {
                    return Ok(ContainerLock { dir, _lock: lock });
                }
                _ => continue,
            }
        }
    }
}

impl Drop for ContainerLock {
    fn drop(&mut self) {
        // Fails while the container has port files; that is intended.
        let _ = fs::remove_dir(&self.dir);
    }
}

/// Remove a port file (gone is fine) and its directory when that is now empty.
pub fn remove(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(e).with_context(|| format!("cannot remove port file {}", path.display()));
        }
    }
    if let Some(dir) = path.parent() {
        // Fails while other interfaces of the container still have files; that is intended.
        let _ = fs::remove_dir(dir);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(cid: &str, vmi: &str, ifname: &str) -> AddPortMsg {
        AddPortMsg {
            time: "t".into(),
            vm_id: cid.into(),
            vm_uuid: "u".into(),
            vm_name: cid.into(),
            host_ifname: "tapx".into(),
            vm_ifname: ifname.into(),
            vm_namespace: "/ns".into(),
            vn_uuid: "vn".into(),
            vmi_uuid: vmi.into(),
        }
    }

    /// A fresh `config-dir` with the records directory in it.
    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("cm-portfile-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(records_dir(&d)).expect("mkdir");
        d
    }

    #[test]
    fn write_read_remove() {
        let root = scratch("wrr");
        let lock = ContainerLock::acquire(&root, "c1").expect("lock");
        let p0 = write(&root, &msg("c1", "vmi0", "eth0")).expect("write");
        let p1 = write(&root, &msg("c1", "vmi1", "eth1")).expect("write");
        drop(lock);
        assert_eq!(p0, root.join(".contrail-mesos").join("c1").join("vmi0"));
        let files = read_container(&root, "c1").expect("read");
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].msg.as_ref().expect("parsed").vm_ifname, "eth0");
        // No temp files are left behind.
        assert_eq!(
            fs::read_dir(container_dir(&root, "c1"))
                .expect("dir")
                .count(),
            2
        );
        remove(&p0).expect("remove");
        assert!(
            container_dir(&root, "c1").exists(),
            "dir stays while eth1 has a file"
        );
        remove(&p1).expect("remove");
        assert!(!container_dir(&root, "c1").exists(), "empty dir removed");
        remove(&p1).expect("removing again is fine");
        assert!(read_container(&root, "c1").expect("read").is_empty());
        // Nothing but the records directory is left in config-dir.
        let left: Vec<_> = fs::read_dir(&root)
            .expect("dir")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, [RECORDS_DIR]);
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn a_record_needs_its_containers_directory() {
        let root = scratch("nodir");
        let e = write(&root, &msg("c1", "vmi0", "eth0")).expect_err("no directory");
        assert!(format!("{e:#}").contains("vmi0"), "{e:#}");
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn container_lock_excludes_and_cleans_up() {
        let root = scratch("lock");
        let first = ContainerLock::acquire(&root, "c1").expect("lock");
        let (tx, rx) = std::sync::mpsc::channel();
        let root2 = root.clone();
        let waiter = std::thread::spawn(move || {
            let l = ContainerLock::acquire(&root2, "c1").expect("lock");
            tx.send(()).expect("send");
            drop(l);
        });
        assert!(
            rx.recv_timeout(std::time::Duration::from_millis(200))
                .is_err(),
            "a second holder got the lock"
        );
        drop(first);
        rx.recv_timeout(std::time::Duration::from_secs(5))
            .expect("the lock is handed over");
        waiter.join().expect("waiter");
        assert!(
            !container_dir(&root, "c1").exists(),
            "an empty directory is not left"
        );
        // Without the records directory (the first run of this version), no lock: the caller
        // migrates first.
        fs::remove_dir(records_dir(&root)).expect("rmdir");
        match ContainerLock::acquire(&root, "c1") {
            Err(LockError::NoRecordsDir(d)) => assert_eq!(d, records_dir(&root)),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("locked without the records directory"),
        }
        assert!(!records_dir(&root).exists(), "not made by the lock");
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn unreadable_files_are_reported_not_fatal() {
        let root = scratch("bad");
        fs::create_dir_all(container_dir(&root, "c1")).expect("mkdir");
        fs::write(container_dir(&root, "c1").join("junk"), b"").expect("write");
        let files = read_container(&root, "c1").expect("read");
        assert!(files[0].msg.is_err());
        assert_eq!(read_all(&root).expect("all").len(), 1);
        let _ = fs::remove_dir_all(&root);
    }
}
