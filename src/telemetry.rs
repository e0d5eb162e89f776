//! Logging: one span per request (see `http::conventions`), as text or JSON.
//! Request bodies, tokens and personal data are never logged: handlers log
//! ids and outcomes only, and SQL statement logging is off.

use tracing_subscriber::{fmt, EnvFilter};

use crate::config::LogFormat;

/// Installs the global subscriber; a second call (as in tests) is ignored.
pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    // colour codes only where a person reads them: a file or a log collector
    // gets plain text
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
    quiet_panics();
}

/// A panic is logged with where it happened, never with its message: the
/// message of a failed slice or parse quotes the value, which may be what a
/// caller sent. (The request's span carries its id.)
fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(location = %at, "panic; its message is withheld, as it may quote request data");
    }));
}
