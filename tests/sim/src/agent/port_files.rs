//! The vRouter agent's own port files, release by release.
//!
//! Juniper/contrail-controller `src/vnsw/agent/port_ipc/port_ipc_handler.cc` on the branches
//! `R5.0`, `R5.1` (byte-identical on `R1907` .. `R2005`) and `R2008` (the same file as
//! tungstenfabric/tf-controller `R2011`). The agent's `PortIpcHandler` is built with its ports
//! directory (`/var/lib/contrail/ports`) and keeps the ports of `POST /vm` in
//! `vmvn_dir_ = <ports directory>/vm`, the CNI plugins' `config-dir`. A [`PortDir`] is that `vm`
//! directory; the constructor creates it when missing.
//!
//! | | R5.0 | R5.1 .. R2005 | R2008, R2011 |
//! |---|---|---|---|
//! | `WriteJsonToFile` | regular file `<vm-uuid>` | `<vm-uuid>/<vmi-uuid>` | `<vm-name>/<vmi-uuid>` |
//! | `ReloadAllPorts` | regular files named by a uuid | directories named by a uuid, then their regular files named by a uuid | every directory (dot-directories too), then its regular files named by a uuid |
//! | `DeleteVmVnPort` | the regular file `<vm-uuid>` | `<vm-uuid>/<vmi>` of each interface of the VM's config, then `remove_all(<vm-uuid>)` | the same: by the VM's **uuid**, not the name it wrote under |
//!
//! - `WriteJsonToFile` never overwrites: anything at the file's path (a file or a directory)
//!   counts as written. The directory is created only when nothing is at its path. A write that
//!   fails drops the port from the `POST` (no subscription), though the agent still answers
//!   `{}` (`AddVmVnPort` ignores what `AddVmVnPortEntry` returns).
//! - The content is `MakeVmVnPortJson(entry, info, true)`: rapidjson's `PrettyWriter` of
//!   `vm-uuid`, (R5.1 on: `vn-uuid`, `vmi-uuid`,) `vm-id`, `vm-name`, `host-ifname`, `vm-ifname`,
//!   `vm-namespace`, `author`, `time`.
//! - "Named by a uuid" is `IsUUID`: `StringToUuid` of the name is not nil ([`super::stream_uuid`]:
//!   a leading `.` never is; trailing characters after 32 digits are ignored). `is_regular_file`
//!   and `is_directory` follow symbolic links.
//! - `ReloadAllPorts` runs `ProcessFile` on each file: the whole content goes through
//!   `AddVmVnPort(json, check_port, err_msg, false)`, the parser of `POST /vm`, with
//!   `check_port = !vrouter_on_host_dpdk` (`contrail_agent_init.cc` `InitDone`; this emulator is
//!   a kernel-mode agent, so a port whose `host-ifname` is not an interface is not reloaded) and
//!   without writing a file. A file that does not parse (an empty one, CEM-21113) is skipped.
//! - `ReloadAllPorts` first reloads the ports directory itself (the Nova port API's files,
//!   `AddPortFromJson`); that API is not emulated and neither is that step.
//!
//! `directory_iterator` order is the file system's; this emulator reloads in path order.

use std::fs;
use std::path::{Path, PathBuf};

use super::{AUTHOR, Field, NIL_UUID, RegisteredPort, pretty, stream_uuid};
use crate::agent::AgentRelease;

/// `IsUUID`.
fn is_uuid(name: &str) -> bool {
    stream_uuid(name) != NIL_UUID
}

/// The agent's `vm` port directory (the plugins' `config-dir`).
#[derive(Debug, Clone)]
pub(super) struct PortDir {
    root: PathBuf,
}

/// The agent's string concatenation `dir + "/" + name` (a name with `/` or `..` is not
/// sanitised, as upstream does not).
fn join(dir: &Path, name: &str) -> PathBuf {
    PathBuf::from(format!("{}/{name}", dir.display()))
}

/// Where `WriteJsonToFile(VmVnPortSubscribeEntry*)` puts a port: the directory it creates when
/// nothing is at its path (R5.1 on), and the file.
pub(super) fn file_path(
    root: &Path,
    release: AgentRelease,
    port: &RegisteredPort,
) -> (Option<PathBuf>, PathBuf) {
    match release {
        AgentRelease::R5_0 => (None, join(root, &port.vm_uuid)),
        AgentRelease::R5_1 | AgentRelease::R2008 => {
            let dir = join(
                root,
                if release == AgentRelease::R5_1 {
                    &port.vm_uuid
                } else {
                    &port.vm_name
                },
            );
            let file = join(&dir, &port.vmi_uuid);
            (Some(dir), file)
        }
    }
}

/// `MakeVmVnPortJson(entry, info, meta_info = true)`.
pub(super) fn file_json(release: AgentRelease, port: &RegisteredPort, time: &str) -> String {
    let s = |v: &str| Field::Str(v.to_string());
    let mut f: Vec<(&str, Field)> = vec![("vm-uuid", s(&port.vm_uuid))];
    if release.multi_interface() {
        f.extend([
            ("vn-uuid", s(&port.vn_uuid)),
            ("vmi-uuid", s(&port.vmi_uuid)),
        ]);
    }
    f.extend([
        ("vm-id", s(&port.vm_id)),
        ("vm-name", s(&port.vm_name)),
        ("host-ifname", s(&port.host_ifname)),
        ("vm-ifname", s(&port.vm_ifname)),
        ("vm-namespace", s(&port.vm_namespace)),
        ("author", s(AUTHOR)),
        ("time", s(time)),
    ]);
    pretty(&f)
}

/// Whether `ReloadAllPorts` descends into a directory of the `vm` directory named `name`
/// (R5.1 on; R5.0 reads no directory).
pub(super) fn reloads_dir(release: AgentRelease, name: &str) -> bool {
    match release {
        AgentRelease::R5_0 => false,
        AgentRelease::R5_1 => is_uuid(name),
        AgentRelease::R2008 => true,
    }
}

/// A file `ReloadAllPorts` read, and its content (up to the first NUL, as rapidjson reads the
/// C string), or why it could not be read (`ProcessFile`: `!f.good()`, skipped).
pub(super) struct Found {
    pub path: PathBuf,
    pub content: Result<Vec<u8>, String>,
}

impl PortDir {
    /// `PortIpcHandler::PortIpcHandler`: the directory is created when missing.
    pub fn create(root: &Path) -> anyhow::Result<PortDir> {
        use anyhow::Context;
        fs::create_dir_all(root)
            .with_context(|| format!("creating the agent's port directory {}", root.display()))?;
        Ok(PortDir {
            root: root.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// `WriteJsonToFile(VmVnPortSubscribeEntry*)`: `Err` names what failed.
    pub fn write(
        &self,
        release: AgentRelease,
        port: &RegisteredPort,
        time: &str,
    ) -> Result<(), String> {
        let (dir, file) = file_path(&self.root, release, port);
        if let Some(dir) = dir
            && !dir.exists()
        {
            fs::create_dir_all(&dir)
                .map_err(|e| format!("Creating directory {} failed: {e}", dir.display()))?;
        }
        // "Don't overwrite if the file already exists"
        if file.exists() {
            return Ok(());
        }
        fs::write(&file, file_json(release, port, time)).map_err(|e| {
            format!(
                "Writing of Json string to file {} failed: {e}",
                file.display()
            )
        })
    }

    /// The files of `DELETE /vm/<vm>` (`DeleteVmVnPort`). R5.0: the regular file `<vm>`.
    /// R5.1 on: `<vm>/<vmi>` of each interface the VM's config has (`interfaces`), then, when
    /// none failed, the whole directory `<vm>` (by uuid in every release).
    pub fn delete_vm(&self, release: AgentRelease, vm: &str, interfaces: &[String]) {
        let remove_regular = |file: &Path| -> bool {
            if file.is_file()
                && let Err(e) = fs::remove_file(file)
            {
                log::debug!("agent-sim: Error deleting file {}: {e}", file.display());
                return false;
            }
            true
        };
        let base = join(&self.root, vm);
        if release == AgentRelease::R5_0 {
            remove_regular(&base);
            return;
        }
        let mut failed = false;
        for vmi in interfaces {
            failed |= !remove_regular(&join(&base, vmi));
        }
        if failed {
            return;
        }
        if let Err(e) = fs::remove_dir_all(&base)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            log::debug!(
                "agent-sim: Deleting directory {} failed: {e}",
                base.display()
            );
        }
    }

    /// What `ReloadAllPorts(check_port)` reads for `vmvn_dir_`, in path order.
    pub fn reload(&self, release: AgentRelease) -> Vec<Found> {
        let mut out = Vec::new();
        if release == AgentRelease::R5_0 {
            files_named_by_uuid(&self.root, &mut out);
        } else {
            for (path, name) in entries(&self.root) {
                if path.is_dir() && reloads_dir(release, &name) {
                    files_named_by_uuid(&path, &mut out);
                }
            }
        }
        out
    }
}

/// The entries of a directory, in path order; none when it cannot be read.
fn entries(dir: &Path) -> Vec<(PathBuf, String)> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<(PathBuf, String)> = rd
        .flatten()
        .map(|e| (e.path(), e.file_name().to_string_lossy().into_owned()))
        .collect();
    v.sort();
    v
}

/// `ReloadAllPorts(dir, check_port, true)`: the regular files of `dir` named by a uuid.
fn files_named_by_uuid(dir: &Path, out: &mut Vec<Found>) {
    for (path, name) in entries(dir) {
        if !path.is_file() || !is_uuid(&name) {
            continue;
        }
        let content = fs::read(&path)
            .map(|mut b| {
                if let Some(nul) = b.iter().position(|c| *c == 0) {
                    b.truncate(nul);
                }
                b
            })
            .map_err(|e| e.to_string());
        out.push(Found { path, content });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VM: &str = "11111111-1111-4111-8111-111111111111";
    const VMI: &str = "aaaaaaaa-0000-4000-8000-000000000001";
    const VN: &str = "cccccccc-0000-4000-8000-000000000002";

    fn port(release: AgentRelease, name: &str) -> RegisteredPort {
        let multi = release.multi_interface();
        RegisteredPort {
            vm_uuid: VM.into(),
            vmi_uuid: if multi { VMI.into() } else { String::new() },
            vn_uuid: if multi { VN.into() } else { String::new() },
            vm_id: "task-1".into(),
            vm_name: name.into(),
            host_ifname: "tap1".into(),
            vm_ifname: "eth0".into(),
            vm_namespace: "/ns".into(),
            time: String::new(),
        }
    }

    #[test]
    fn where_each_release_writes() {
        let root = Path::new("/p/vm");
        let (d, f) = file_path(
            root,
            AgentRelease::R5_0,
            &port(AgentRelease::R5_0, "task-1"),
        );
        assert_eq!((d, f), (None, PathBuf::from(format!("/p/vm/{VM}"))));
        let (d, f) = file_path(
            root,
            AgentRelease::R5_1,
            &port(AgentRelease::R5_1, "task-1"),
        );
        assert_eq!(d, Some(PathBuf::from(format!("/p/vm/{VM}"))));
        assert_eq!(f, PathBuf::from(format!("/p/vm/{VM}/{VMI}")));
        let (d, f) = file_path(
            root,
            AgentRelease::R2008,
            &port(AgentRelease::R2008, "task-1"),
        );
        assert_eq!(d, Some(PathBuf::from("/p/vm/task-1")));
        assert_eq!(f, PathBuf::from(format!("/p/vm/task-1/{VMI}")));
    }

    #[test]
    fn content_is_make_vm_vn_port_json() {
        let p = port(AgentRelease::R5_0, "task-1");
        assert_eq!(
            file_json(AgentRelease::R5_0, &p, "479000:00:01"),
            format!(
                "{{\n    \"vm-uuid\": \"{VM}\",\n    \"vm-id\": \"task-1\",\n    \"vm-name\": \"task-1\",\n    \"host-ifname\": \"tap1\",\n    \"vm-ifname\": \"eth0\",\n    \"vm-namespace\": \"/ns\",\n    \"author\": \"{AUTHOR}\",\n    \"time\": \"479000:00:01\"\n}}"
            )
        );
        let p = port(AgentRelease::R5_1, "task-1");
        let text = file_json(AgentRelease::R5_1, &p, "t");
        let at: Vec<usize> = [
            "vm-uuid",
            "vn-uuid",
            "vmi-uuid",
            "vm-id",
            "vm-name",
            "host-ifname",
            "vm-ifname",
            "vm-namespace",
            "author",
            "time",
        ]
        .iter()
        .map(|k| {
            text.find(&format!("\n    \"{k}\": "))
                .unwrap_or_else(|| panic!("{k} in {text}"))
        })
        .collect();
        assert!(
            at.windows(2).all(|w| w[0] < w[1]),
            "in the agent's order: {text}"
        );
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(
            (v["vmi-uuid"].as_str(), v["vn-uuid"].as_str()),
            (Some(VMI), Some(VN))
        );
    }

    #[test]
    fn which_directories_are_reloaded() {
        for name in [VM, "task-1", ".contrail-mesos", ".hidden"] {
            assert!(!reloads_dir(AgentRelease::R5_0, name));
            assert!(reloads_dir(AgentRelease::R2008, name), "{name}");
        }
        assert!(reloads_dir(AgentRelease::R5_1, VM));
        assert!(
            reloads_dir(AgentRelease::R5_1, &format!("{VM}.old")),
            "IsUUID ignores the tail"
        );
        assert!(!reloads_dir(AgentRelease::R5_1, "task-1"));
        assert!(!reloads_dir(AgentRelease::R5_1, ".contrail-mesos"));
        assert!(!reloads_dir(AgentRelease::R5_1, &format!(".{VM}")));
    }
}
