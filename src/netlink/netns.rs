//! Network namespace handles, and running code inside a namespace without switching the caller.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::thread::{Scope, ScopedJoinHandle};

use anyhow::{Context, Result, bail};
use nix::sched::{CloneFlags, setns};
use nix::sys::statfs::{NSFS_MAGIC, fstatfs};

/// `NS_GET_NSTYPE` = `_IO(0xb7, 0x3)`: which kind of namespace an nsfs file is (Linux 4.11+).
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;

/// An open handle on a network namespace (`/var/run/netns/<name>`, `/proc/<pid>/ns/net`, ...).
/// The namespace lives at least as long as the handle.
#[derive(Debug)]
pub struct NetNs {
    file: File,
    path: PathBuf,
}

impl NetNs {
    /// Opens `path` and checks that it is a network namespace.
    pub fn open(path: &Path) -> Result<NetNs> {
        let file = File::open(path)
            .with_context(|| format!("open network namespace {}", path.display()))?;
        check_is_netns(&file, path)?;
        Ok(NetNs {
            file,
            path: path.to_path_buf(),
        })
    }

    /// The calling thread's network namespace.
    pub fn current() -> Result<NetNs> {
        NetNs::open(Path::new("/proc/thread-self/ns/net"))
    }

    /// The path the handle was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a fresh thread that joined this namespace; the calling thread never
    /// switches. Sockets created by `f` stay bound to this namespace. A panic in `f` is
    /// propagated to the caller.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
        std::thread::scope(|scope| match self.spawn(scope, f)?.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        })
    }

    /// [`NetNs::run`] without waiting: `f` runs on a thread of `scope` that joined this
    /// namespace, while the caller goes on.
    pub fn spawn<'scope, T: Send + 'scope>(
        &'scope self,
        scope: &'scope Scope<'scope, '_>,
        f: impl FnOnce() -> Result<T> + Send + 'scope,
    ) -> Result<ScopedJoinHandle<'scope, Result<T>>> {
        std::thread::Builder::new()
            .name("netns".into())
            .spawn_scoped(scope, move || {
                setns(&self.file, CloneFlags::CLONE_NEWNET)
                    .with_context(|| format!("enter network namespace {}", self.path.display()))?;
                f()
            })
            .with_context(|| {
                format!(
                    "start a thread to enter network namespace {}",
                    self.path.display()
                )
            })
    }
}

impl AsFd for NetNs {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// Fails unless `file` is an nsfs handle of a network namespace.
fn check_is_netns(file: &File, path: &Path) -> Result<()> {
    let fs = fstatfs(file).with_context(|| format!("statfs {}", path.display()))?;
    if fs.filesystem_type() != NSFS_MAGIC {
        bail!(
            "{} is not a network namespace (not a namespace file; expected e.g. /var/run/netns/<name> or /proc/<pid>/ns/net)",
            path.display()
        );
    }
    // SAFETY: NS_GET_NSTYPE takes no argument and only reads the open fd.
    let kind = unsafe { libc::ioctl(file.as_raw_fd(), NS_GET_NSTYPE as _) };
    if kind < 0 {
        // Kernels before 4.11 lack the ioctl; the nsfs check above has to do.
        return Ok(());
    }
    if kind != libc::CLONE_NEWNET {
        bail!(
            "{} is not a network namespace (it is a {} namespace)",
            path.display(),
            namespace_kind(kind)
        );
    }
    Ok(())
}

fn namespace_kind(clone_flag: libc::c_int) -> &'static str {
    match clone_flag {
        libc::CLONE_NEWNS => "mount",
        libc::CLONE_NEWUTS => "uts",
        libc::CLONE_NEWIPC => "ipc",
        libc::CLONE_NEWUSER => "user",
        libc::CLONE_NEWPID => "pid",
        libc::CLONE_NEWCGROUP => "cgroup",
        libc::CLONE_NEWTIME => "time",
        _ => "non-network",
    }
}
