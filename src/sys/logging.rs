//! Logging set-up shared by the applets: to a file or to stderr, never to stdout.

use std::path::Path;

use log::LevelFilter;

/// A level from a name (`info`), a number (`4` = debug, as upstream's CNI writes it) or
/// upstream's sandesh names (`SYS_DEBUG`).
pub fn parse_level(s: &str) -> Option<LevelFilter> {
    let s = s.trim().to_ascii_lowercase();
    let s = s.strip_prefix("sys_").unwrap_or(&s);
    Some(match s {
        "0" | "off" | "none" => LevelFilter::Off,
        "1" | "error" | "err" | "emerg" | "alert" | "crit" => LevelFilter::Error,
        "2" | "warn" | "warning" => LevelFilter::Warn,
        "3" | "info" | "notice" => LevelFilter::Info,
        "4" | "debug" => LevelFilter::Debug,
        "5" | "trace" => LevelFilter::Trace,
        _ => return None,
    })
}

/// Install the logger once. `RUST_LOG` wins over `level`. A log file that cannot be opened
/// falls back to stderr with a warning there.
pub fn init(level: Option<&str>, file: Option<&Path>, default: LevelFilter, timestamps: bool) {
    let mut b = env_logger::Builder::new();
    b.filter_level(level.and_then(parse_level).unwrap_or(default));
    // The HTTP stack's own debug output would drown ours.
    for noisy in ["ureq", "ureq_proto", "rustls"] {
        b.filter_module(noisy, LevelFilter::Warn);
    }
    if let Ok(spec) = std::env::var("RUST_LOG") {
        b.parse_filters(&spec);
    }
    b.target(env_logger::Target::Stderr);
    let mut note = None;
    let mut stamp = timestamps;
    if let Some(path) = file {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            Ok(f) => {
                b.target(env_logger::Target::Pipe(Box::new(f)));
                stamp = true;
            }
            Err(e) => note = Some(format!("cannot open log file {}: {e}", path.display())),
        }
    }
    b.format(move |out, record| {
        use std::io::Write;
        if stamp {
            let now = humantime::format_rfc3339_micros(std::time::SystemTime::now());
            write!(out, "{now} ")?;
        }
        writeln!(
            out,
            "{:<5} {}: {}",
            record.level(),
            record.target(),
            record.args()
        )
    });
    let _ = b.try_init();
    if let Some(n) = note {
        log::warn!("{n}; logging to stderr");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_names() {
        assert_eq!(parse_level("4"), Some(LevelFilter::Debug));
        assert_eq!(parse_level("SYS_NOTICE"), Some(LevelFilter::Info));
        assert_eq!(parse_level("Warning"), Some(LevelFilter::Warn));
        assert_eq!(parse_level("loud"), None);
    }
}
