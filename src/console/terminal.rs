//! The terminal's side of the console: `/console` typed where the bot runs prints a fresh
//! one-time sign-in link. Live mode reads only that; the `--offline` terminal
//! ([`crate::sim::terminal`]) understands it among its simulator commands.

use std::io::Write;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// The line printed for a fresh link, or why there is none (`None`: the console is off).
pub fn link_line(url: Option<String>) -> String {
    match url {
        Some(url) => format!("Web console: {url}  (this link signs your browser in once)"),
        None => "the web console is off (--noconsole, or it could not start: see the log)".into(),
    }
}

/// Live mode's terminal: answers `/console` on `input` with a fresh link from `mint`, printed
/// to `out`, and says what it understands for any other line. At end of input (no terminal,
/// as under a service manager) it stops reading and never returns.
pub async fn live(
    input: impl AsyncBufRead + Unpin,
    mut out: impl Write,
    mint: impl Fn() -> Option<String>,
) {
    let mut lines = input.lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let answer = match line.trim() {
            "" => continue,
            "/console" => link_line(mint()),
            _ => "type /console for a new web console sign-in link (chat goes through Twitch \
                  or the console)"
                .to_owned(),
        };
        // The terminal may be gone (a closed pipe): nothing else to do with the answer.
        let _ = writeln!(out, "{answer}");
    }
    std::future::pending::<()>().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn console_typed_in_live_mode_prints_a_fresh_link() {
        let input: &[u8] = b"hello\n/console\n\n /console \n";
        let mut out = Vec::new();
        let n = std::cell::Cell::new(0);
        let mint = || {
            n.set(n.get() + 1);
            Some(format!("http://127.0.0.1:8081/login?token=code{}", n.get()))
        };
        // It never returns: it is cut off once the input is used up.
        let _ = tokio::time::timeout(Duration::from_millis(200), live(input, &mut out, mint)).await;
        let printed = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = printed.lines().collect();
        assert_eq!(lines.len(), 3, "{printed}");
        assert!(lines[0].contains("type /console"), "{printed}");
        assert!(lines[1].contains("/login?token=code1"), "{printed}");
        assert!(
            lines[2].contains("/login?token=code2"),
            "a fresh link each time: {printed}"
        );
    }

    #[test]
    fn without_a_console_it_says_so() {
        assert!(link_line(None).contains("--noconsole"));
    }
}
