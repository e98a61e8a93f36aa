//! `contrail-mesos`: dispatch to an applet; everything else lives in the library.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(contrail_mesos::applets::main())
}
