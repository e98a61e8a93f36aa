//! Options every operator applet takes, and what they resolve to.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::clients::contrail::config_api::{ApiOptions, ConfigApi};
use crate::domain::fqname::FqName;
use crate::domain::settings::Settings;

/// Global options: accepted before or after the sub-command.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CommonOpts {
    /// The manager's ini file: config API endpoints, TLS, Keystone credentials, URLs.
    #[arg(short = 'c', long = "config", value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Contrail config API URL [default: from -c, else http://127.0.0.1:8082].
    #[arg(long, value_name = "URL", global = true)]
    pub api: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// Seconds one HTTP call may take.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, global = true)]
    pub timeout: u64,
}

impl CommonOpts {
    pub fn settings(&self) -> Result<Settings> {
        let s = match &self.config {
            Some(p) => Settings::load(p)?,
            None => Settings::default(),
        };
        for note in &s.notes {
            log::warn!("{note}");
        }
        Ok(s)
    }

    /// The config API client: `--api`, else the ini's endpoints.
    pub fn api(&self, settings: &Settings) -> Result<ConfigApi> {
        let mut opts = ApiOptions::from_settings(settings);
        if let Some(url) = &self.api {
            opts.endpoints = vec![url.trim_end_matches('/').to_string()];
        }
        opts.http = opts
            .http
            .with_timeout(Duration::from_secs(self.timeout.max(1)));
        opts.retries = 1;
        ConfigApi::new(opts).context("config API client")
    }
}

/// The uuid of the `ty` named `fq` ([`ConfigApi::require_id`]): a missing one is an error that
/// says it does not exist; any other failure says what was being looked up.
pub fn require_id(api: &ConfigApi, ty: &str, fq: &FqName) -> Result<String> {
    match api.require_id(ty, fq) {
        Ok(uuid) => Ok(uuid),
        Err(e) if e.is_not_found() => Err(e.into()),
        Err(e) => Err(anyhow::Error::new(e).context(format!("looking up {ty} {fq}"))),
    }
}

/// Print a document as JSON or as a table. The JSON goes through a `serde_json::Value`, so its
/// keys come out sorted whatever the order of a struct's fields.
pub fn emit<T: Serialize + ?Sized>(
    json: bool,
    doc: &T,
    table: impl FnOnce() -> String,
) -> Result<()> {
    if json {
        emit_streamed(true, &serde_json::to_value(doc)?, table)
    } else {
        emit_streamed(false, doc, table)
    }
}

/// [`emit`] for a large document whose keys serialize in sorted order already (each struct's
/// fields declared alphabetically, checked by its tests): written as it is serialized, with no
/// JSON tree or text of the whole held; the output is [`emit`]'s.
pub fn emit_streamed<T: Serialize + ?Sized>(
    json: bool,
    doc: &T,
    table: impl FnOnce() -> String,
) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    if json {
        serde_json::to_writer_pretty(&mut out, doc)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", table())?;
    }
    out.flush()?;
    Ok(())
}
