//! The applets, and their dispatch: by the basename of `argv[0]`, or by the first argument of
//! `contrail-mesos <applet>`; any other name with `CNI_COMMAND` set is the CNI plugin.

pub mod cli;
pub mod cni;
pub mod man;
pub mod manager;

use std::ffi::OsString;

use clap::{CommandFactory, Parser, Subcommand};

use crate::applets::cni::CniArgs;
use crate::applets::manager::ManagerArgs;

pub const NAME: &str = "contrail-mesos";

/// OpenContrail (Tungsten Fabric) networking for Apache Mesos and Marathon.
#[derive(Parser, Debug)]
#[command(
    name = NAME,
    version,
    about = "OpenContrail (Tungsten Fabric) networking for Apache Mesos and Marathon",
    long_about = "One binary, several applets: the CNI plugin the Mesos agent runs, the manager that \
turns tasks into Contrail objects, and operator tools for floating IPs, security groups and status. \
The applet is taken from the first argument, or from the program name when installed as \
contrail-mesos-<applet> (contrail-cni-plugin is the CNI plugin, as in upstream DC/OS installs).",
    propagate_version = true,
    subcommand_required = true,
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub applet: Applet,
}

#[derive(Subcommand, Debug)]
pub enum Applet {
    /// The CNI plugin (run by the Mesos agent with CNI_* variables and the network config on stdin).
    Cni(CniArgs),
    /// The service that creates Contrail objects for tasks and removes orphans.
    Manager(ManagerArgs),
    /// Floating IPs: list, allocate, associate, disassociate, release.
    Fip(cli::fip::FipArgs),
    /// Security groups: list, show, create, delete, add-rule, attach, detach.
    Sg(cli::sg::SgArgs),
    /// Marathon apps and pods joined with their Contrail networking.
    Status(cli::status::StatusArgs),
}

/// The applet a program name stands for.
pub fn applet_for_name(base: &str) -> Option<&'static str> {
    Some(match base {
        "contrail-mesos-cni" | "contrail-cni-plugin" => "cni",
        "contrail-mesos-manager" => "manager",
        "contrail-mesos-fip" => "fip",
        "contrail-mesos-sg" => "sg",
        "contrail-mesos-status" => "status",
        _ => return None,
    })
}

/// The clap command tree (also the source of the man pages).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Runs the applet `argv` names; returns the process's exit status.
pub fn main() -> u8 {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let base = argv
        .first()
        .and_then(|a| {
            std::path::Path::new(a)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| NAME.to_string());
    let cni_env = std::env::var_os("CNI_COMMAND").is_some();
    let by_name = applet_for_name(&base);
    let is_cni = by_name == Some("cni") || (by_name.is_none() && base != NAME && cni_env);
    // A runtime runs the plugin without arguments; `--help`/`--version` still go to clap.
    if is_cni && argv.len() == 1 {
        return run_cni();
    }
    // `contrail-mesos` or `contrail-mesos cni` run by a runtime: nothing else would make sense.
    if base == NAME && cni_env && (argv.len() == 1 || (argv.len() == 2 && argv[1] == "cni")) {
        return run_cni();
    }
    let mut args: Vec<OsString> = vec![NAME.into()];
    match (by_name, is_cni) {
        (Some(applet), _) => args.push(applet.into()),
        (None, true) => args.push("cni".into()),
        (None, false) => {}
    }
    args.extend(argv.into_iter().skip(1));
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    if !matches!(cli.applet, Applet::Manager(_) | Applet::Cni(_)) {
        // The operator tools log warnings (and RUST_LOG's choice) to stderr.
        crate::sys::logging::init(None, None, log::LevelFilter::Warn, false);
    }
    let result = match cli.applet {
        Applet::Cni(_) => return run_cni(),
        Applet::Manager(a) => crate::applets::manager::run(&a),
        Applet::Fip(a) => cli::fip::run(&a),
        Applet::Sg(a) => cli::sg::run(&a),
        Applet::Status(a) => cli::status::run(&a),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return 0;
            }
            eprintln!("error: {e:#}");
            1
        }
    }
}

fn run_cni() -> u8 {
    crate::sys::malloc::limit_arenas(1);
    let env = |k: &str| std::env::var(k).ok();
    let rc = crate::applets::cni::run(
        &env,
        &mut std::io::stdin().lock(),
        &mut std::io::stdout().lock(),
    );
    u8::try_from(rc).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_applets() {
        assert_eq!(applet_for_name("contrail-cni-plugin"), Some("cni"));
        assert_eq!(applet_for_name("contrail-mesos-manager"), Some("manager"));
        assert_eq!(applet_for_name("contrail-mesos-status"), Some("status"));
        assert_eq!(applet_for_name("contrail-mesos"), None);
    }

    #[test]
    fn command_tree_is_valid() {
        command().debug_assert();
    }
}
