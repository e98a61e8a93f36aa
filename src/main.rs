//! `contrail-mesos`: dispatch to an applet; everything else lives in the library.

fn main() -> std::process::ExitCode {
    contrail_mesos::applets::main()
}
