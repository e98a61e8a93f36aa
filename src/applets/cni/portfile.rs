//! Port files: `config-dir/<container-id>/<vmi-uuid>`, one per interface, holding the agent
//! request (with `vm-id`, the container id). Written atomically: a reader (the agent at its
//! start, DEL, GC) never sees a partial file.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::clients::contrail::agent::AddPortMsg;

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

pub fn container_dir(config_dir: &Path, cid: &str) -> PathBuf {
    config_dir.join(cid)
}

/// Write `config-dir/<vm-id>/<vmi-uuid>`: temp file, rename.
pub fn write(config_dir: &Path, msg: &AddPortMsg) -> Result<PathBuf> {
    let dir = container_dir(config_dir, &msg.vm_id);
    fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create port directory {}", dir.display()))?;
    let path = dir.join(&msg.vmi_uuid);
    let tmp = dir.join(format!(".{}.tmp.{}", msg.vmi_uuid, std::process::id()));
    let body = serde_json::to_vec_pretty(msg).context("encoding the port file")?;
    // The rename makes the whole file visible at once. Not synced to disk, like upstream's
    // plugin: the file lives as long as its container, which a host crash ends, so a file
    // lost or left empty by a crash only names a port that is gone; DEL removes it
    // (`PortFile::records`) and readers skip what they cannot parse.
    let result = (|| -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&body)?;
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

/// Every port file under `config-dir` (GC).
pub fn read_all(config_dir: &Path) -> Result<Vec<PortFile>> {
    let entries = match fs::read_dir(config_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot list port directory {}", config_dir.display()));
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

/// The exclusive lock of one container's ports on this node: its port files and what the
/// agent holds for it. The agent cannot remove one interface, so a DEL drops the VM and
/// registers its other ports again; an ADD or DEL of another interface of the same container
/// must not run in between. Held on the container's port directory (an `flock`), which is
/// created for it and removed when it is left empty.
pub struct ContainerLock {
    dir: PathBuf,
    _lock: nix::fcntl::Flock<fs::File>,
}

impl ContainerLock {
    pub fn acquire(config_dir: &Path, cid: &str) -> Result<ContainerLock> {
        use std::os::unix::fs::MetadataExt;
        let dir = container_dir(config_dir, cid);
        loop {
            fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create port directory {}", dir.display()))?;
            let f = match fs::File::open(&dir) {
                Ok(f) => f,
                // Removed by the holder of the lock since: make it again.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("cannot open port directory {}", dir.display()));
                }
            };
            let lock = nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
                .map_err(|(_, errno)| errno)
                .with_context(|| format!("cannot lock port directory {}", dir.display()))?;
            // The directory may have been removed (and made again) while we waited: the lock
            // counts only on the directory the path names now.
            let held = lock
                .metadata()
                .with_context(|| format!("cannot stat port directory {}", dir.display()))?;
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

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("cm-portfile-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn write_read_remove() {
        let root = scratch("wrr");
        let p0 = write(&root, &msg("c1", "vmi0", "eth0")).expect("write");
        let p1 = write(&root, &msg("c1", "vmi1", "eth1")).expect("write");
        assert_eq!(p0, root.join("c1").join("vmi0"));
        let files = read_container(&root, "c1").expect("read");
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].msg.as_ref().expect("parsed").vm_ifname, "eth0");
        // No temp files are left behind.
        assert_eq!(fs::read_dir(root.join("c1")).expect("dir").count(), 2);
        remove(&p0).expect("remove");
        assert!(root.join("c1").exists(), "dir stays while eth1 has a file");
        remove(&p1).expect("remove");
        assert!(!root.join("c1").exists(), "empty dir removed");
        remove(&p1).expect("removing again is fine");
        assert!(read_container(&root, "c1").expect("read").is_empty());
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
        assert!(!root.join("c1").exists(), "an empty directory is not left");
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn unreadable_files_are_reported_not_fatal() {
        let root = scratch("bad");
        fs::create_dir_all(root.join("c1")).expect("mkdir");
        fs::write(root.join("c1").join("junk"), b"").expect("write");
        let files = read_container(&root, "c1").expect("read");
        assert!(files[0].msg.is_err());
        assert_eq!(read_all(&root).expect("all").len(), 1);
        let _ = fs::remove_dir_all(&root);
    }
}
