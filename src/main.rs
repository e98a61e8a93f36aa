//! `contrail-mesos`: dispatch to an applet; everything else lives in the library.
//!
//! Entered from the C library's start-up without the Rust runtime's, which costs a CNI plugin
//! run time for nothing it uses; `sys::start` does the part that matters.
#![cfg_attr(not(test), no_main)]

#[cfg(not(test))]
use std::ffi::{c_char, c_int};

#[cfg(not(test))]
#[unsafe(no_mangle)]
extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    contrail_mesos::sys::start::prepare();
    // A panic has printed its message; its status is the runtime's (101).
    let status = std::panic::catch_unwind(contrail_mesos::applets::main).unwrap_or(101);
    // Flushes stdout, as returning from the runtime's main would.
    std::process::exit(status.into())
}
