//! The TOML config file (`--config FILE` or `TUNECLIP_CONFIG`): top-level keys set
//! global flags, a table per subcommand sets that command's flags, each key a flag's
//! long name. Precedence: built-in default < file < environment < flag, done by making
//! the file's values clap's defaults (clap already puts env above defaults and flags
//! above env).
//!
//! ```toml
//! data-dir = "/srv/tuneclip"
//! [serve]
//! addr = "127.0.0.1:50051"
//! media-root = ["/srv/music", "/srv/uploads"]
//! [produce]
//! clip-s = 30
//! ```

use anyhow::{Context, Result, bail};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The config file named by `--config FILE`, `--config=FILE` or `TUNECLIP_CONFIG`.
pub fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let s = a.to_string_lossy();
        if s == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(v) = s.strip_prefix("--config=") {
            return Some(PathBuf::from(v));
        }
    }
    std::env::var_os("TUNECLIP_CONFIG").map(PathBuf::from)
}

fn value_strings(path: &Path, key: &str, v: &toml::Value) -> Result<Vec<String>> {
    Ok(match v {
        toml::Value::String(s) => vec![s.clone()],
        toml::Value::Integer(i) => vec![i.to_string()],
        toml::Value::Float(f) => vec![f.to_string()],
        toml::Value::Boolean(b) => vec![b.to_string()],
        toml::Value::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                if item.is_array() || item.is_table() {
                    bail!("{}: `{key}`: nested lists or tables are not flag values", path.display());
                }
                out.extend(value_strings(path, key, item)?);
            }
            out
        }
        _ => bail!("{}: `{key}`: expected a string, number, boolean or list", path.display()),
    })
}

/// `cmd` with the defaults of the flags `table` names (keys at this level; tables for
/// subcommands when `subcommands` is true).
fn apply(
    mut cmd: clap::Command,
    table: &toml::Table,
    path: &Path,
    section: &str,
    subcommands: bool,
) -> Result<clap::Command> {
    for (key, value) in table {
        if let (toml::Value::Table(sub), true) = (value, subcommands) {
            if cmd.find_subcommand(key).is_none() {
                let names: Vec<&str> = cmd.get_subcommands().map(clap::Command::get_name).collect();
                bail!("{}: unknown section [{key}] (expected one of: {})", path.display(), names.join(", "));
            }
            let sub_cmd = cmd.find_subcommand(key).cloned().context("subcommand vanished")?;
            let updated = apply(sub_cmd, sub, path, key, false)?;
            cmd = cmd.mut_subcommand(key, |_| updated);
            continue;
        }
        let long = key.replace('_', "-");
        let Some(id) = cmd.get_arguments().find(|a| a.get_long() == Some(long.as_str())).map(|a| a.get_id().clone())
        else {
            let names: Vec<&str> =
                cmd.get_arguments().filter_map(clap::Arg::get_long).filter(|l| *l != "help").collect();
            bail!("{}: unknown setting `{key}` in {section} (expected one of: {})", path.display(), names.join(", "));
        };
        let values = value_strings(path, key, value)?;
        cmd = cmd.mut_arg(id, |a| a.default_values(values));
    }
    Ok(cmd)
}

/// `cmd` with the config file's values as defaults, when one is named.
pub fn with_file_defaults(cmd: clap::Command, args: &[OsString]) -> Result<clap::Command> {
    let Some(path) = config_path(args) else { return Ok(cmd) };
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read config file {}", path.display()))?;
    let table: toml::Table = text.parse().map_err(|e| anyhow::anyhow!("{}: not valid TOML: {e}", path.display()))?;
    apply(cmd, &table, &path, "the top level", true)
}
