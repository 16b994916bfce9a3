//! tracing setup shared by the long-running subcommands.

use std::io::IsTerminal;

use anyhow::Context;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

/// Changes the installed filter while running (serve's reload).
pub type FilterHandle = reload::Handle<EnvFilter, Registry>;

/// Installs a subscriber writing to stderr, text or JSON, filtered by
/// `RUST_LOG` (default `info`, also when `RUST_LOG` does not parse).
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = install(filter, json);
}

/// Installs a subscriber writing to stderr, text or JSON, with a reloadable
/// filter: `RUST_LOG` when set, else `default_filter`.
pub fn init_reloadable(default_filter: &str, json: bool) -> anyhow::Result<FilterHandle> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(f) => EnvFilter::try_new(f),
        Err(_) => EnvFilter::try_new(default_filter),
    }
    .context("invalid log filter")?;
    install(filter, json).context("installing the logger")
}

fn install(filter: EnvFilter, json: bool) -> Result<FilterHandle, tracing_subscriber::util::TryInitError> {
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    if json {
        registry.with(layer.json()).try_init()?;
    } else {
        registry.with(layer.with_ansi(colour_stderr())).try_init()?;
    }
    Ok(handle)
}

/// Whether log lines on stderr get ANSI colours: only on a terminal, and
/// not when `NO_COLOR` is set (<https://no-color.org>). Files, pipes and CI
/// logs get plain text.
pub fn colour_stderr() -> bool {
    colour_allowed(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR"))
}

fn colour_allowed(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::colour_allowed;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour_allowed(true, None));
        assert!(colour_allowed(true, Some("".into())), "an empty NO_COLOR does not count");
        assert!(!colour_allowed(true, Some("1".into())));
        assert!(!colour_allowed(false, None), "pipes and files get no escape codes");
    }
}
