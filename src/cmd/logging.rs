//! tracing setup shared by the long-running subcommands.

use std::io::IsTerminal;

/// Installs a subscriber writing to stderr, text or JSON, filtered by
/// `RUST_LOG` (default `info`).
pub fn init(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour_stderr());
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
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
