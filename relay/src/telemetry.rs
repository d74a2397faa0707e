//! Logging setup, and [`escaped`], which every string from outside the relay (agent labels
//! and ids, URLs, upstream answers and errors) goes through before it reaches a log line.

use std::fmt;

use tracing_subscriber::EnvFilter;

/// Installs a stderr subscriber with `filter` (overridable through `RUST_LOG`).
pub fn init(filter: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// A string quoted with its quotes, backslashes and control characters escaped (`\n`,
/// `\u{1b}`), so it can neither start a forged log line, nor end its field early, nor send
/// escape sequences to a terminal. Printable Unicode is kept as it is.
pub fn escaped<T: fmt::Display + ?Sized>(value: &T) -> Escaped {
    Escaped(value.to_string())
}

/// See [`escaped`].
#[derive(Debug)]
pub struct Escaped(String);

impl fmt::Display for Escaped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::escaped;

    #[test]
    fn control_characters_quotes_and_backslashes_are_escaped() {
        let forged = "tab\nINFO rtc_relay: agent connected label=\"x\"\r\x1b[31mred\x07\u{9b}\\";
        let out = escaped(forged).to_string();
        assert_eq!(
            out,
            r#""tab\nINFO rtc_relay: agent connected label=\"x\"\r\u{1b}[31mred\u{7}\u{9b}\\""#
        );
        assert!(!out.chars().any(char::is_control), "{out}");
        assert_eq!(
            escaped("Firefox — studio").to_string(),
            "\"Firefox — studio\""
        );
    }
}
