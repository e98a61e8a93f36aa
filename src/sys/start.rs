//! What the binary's entry point does before an applet runs, in place of the Rust runtime's
//! start-up (src/main.rs enters from the C library directly). The runtime's start reads
//! /proc/self/maps to find the main thread's stack guard and installs a stack-overflow handler
//! on an alternate stack: about 70 µs of a CNI plugin run whose process starts in about 400 µs
//! on a virtual machine, for nothing the applets use. Two things it does do matter here.

use std::os::fd::RawFd;

/// Standard streams closed by the parent are reopened on /dev/null, so a socket or file the
/// applet opens never becomes fd 0, 1 or 2 (a CNI result written to "stdout" must not land in
/// a netlink socket). Writing to a closed pipe fails with EPIPE instead of killing the process.
pub fn prepare() {
    for fd in 0..=2 {
        reopen_if_closed(fd);
    }
    // SAFETY: sets the disposition of one signal to "ignore", before any thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

fn reopen_if_closed(fd: RawFd) {
    // SAFETY: F_GETFD only reads the descriptor's flags.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1 {
        return;
    }
    // The lowest free descriptor is `fd` itself: 0, 1 and 2 are opened in order.
    // SAFETY: a NUL-terminated path and plain flags.
    let opened = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
    if opened != fd {
        // Nothing sensible is left to write the failure to: stop as the runtime would.
        std::process::abort();
    }
}
