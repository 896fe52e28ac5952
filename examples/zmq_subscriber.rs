//! Prints what the bot publishes on ZeroMQ: one line per message, the topic then the JSON.
//!
//! ```text
//! cargo run --example zmq_subscriber                                  # everything
//! cargo run --example zmq_subscriber -- tcp://127.0.0.1:5555 follow chat.message overlay.
//! ```
//!
//! The first argument is the bot's `zmq.bind` (default `tcp://127.0.0.1:5555`); the others are
//! topic prefixes to subscribe to (default: all). Stop it with Ctrl-C.

use std::io::Write;

use zeromq::{Socket, SocketRecv};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let endpoint = args
        .next()
        .unwrap_or_else(|| "tcp://127.0.0.1:5555".to_string());
    let mut prefixes: Vec<String> = args.collect();
    if prefixes.is_empty() {
        prefixes.push(String::new());
    }
    let mut socket = zeromq::SubSocket::new();
    socket.connect(&endpoint).await.map_err(|e| {
        format!("cannot connect to {endpoint}: {e} (is the bot running with ZeroMQ on?)")
    })?;
    for prefix in &prefixes {
        socket.subscribe(prefix).await?;
    }
    eprintln!("listening on {endpoint}; Ctrl-C stops");
    loop {
        let message = tokio::select! {
            m = socket.recv() => m?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let mut frames = message.iter();
        let topic = frames
            .next()
            .map(|f| String::from_utf8_lossy(f).into_owned());
        let json = frames
            .next()
            .map(|f| String::from_utf8_lossy(f).into_owned());
        // Piped into `head` or a closed terminal: stop quietly.
        let mut out = std::io::stdout().lock();
        let line = format!("{} {}", topic.unwrap_or_default(), json.unwrap_or_default());
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            return Ok(());
        }
    }
}
