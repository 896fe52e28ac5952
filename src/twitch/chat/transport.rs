//! The byte pipes chat runs over: plain TCP (`irc://`), TLS (`ircs://`) and WebSocket
//! (`ws://`, `wss://`), all presented as "read some lines, write a line", and split into a
//! reading half and a writing half so that reading never holds up a write.

use std::io;
use std::sync::Arc;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, pki_types::ServerName};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Longest line we accept from the server before treating the link as broken (Twitch lines are
/// far below this; a peer that never sends `\n` must not grow our memory).
const MAX_LINE: usize = 64 * 1024;
/// Bytes asked of the socket per read when it has that much waiting.
const READ_CHUNK: usize = 32 * 1024;

/// Largest WebSocket message (and frame) accepted from the server: one longest line plus room
/// for the few short lines Twitch may batch with it. tungstenite's default (64 MiB) would let a
/// broken or hostile peer make the bot buffer that much before a line is even looked at.
const MAX_WS_MESSAGE: usize = MAX_LINE + 16 * 1024;

/// Where chat lives, parsed from `twitch.chat_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatUrl {
    /// `irc://host:port` (plain) or `ircs://host:port` (TLS).
    Irc {
        /// The server's host name or address.
        host: String,
        /// The server's port.
        port: u16,
        /// Whether the connection is TLS (`ircs://`).
        tls: bool,
    },
    /// `ws://host:port[/path]` or `wss://host:port[/path]`.
    WebSocket {
        /// The whole URL, as given.
        url: String,
    },
}

/// A `twitch.chat_url` that is not one of the four accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "twitch.chat_url {0:?} is not a chat address: use wss://host:port, ws://host:port, ircs://host:port or irc://host:port"
)]
pub struct BadChatUrl(pub String);

impl ChatUrl {
    /// Parses the four accepted forms.
    ///
    /// # Errors
    /// [`BadChatUrl`] for any other scheme or a missing host.
    pub fn parse(url: &str) -> Result<ChatUrl, BadChatUrl> {
        let bad = || BadChatUrl(url.to_string());
        let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
        match scheme.to_ascii_lowercase().as_str() {
            "ws" | "wss" => {
                if rest.is_empty() {
                    return Err(bad());
                }
                Ok(ChatUrl::WebSocket {
                    url: url.to_string(),
                })
            }
            scheme @ ("irc" | "ircs") => {
                let tls = scheme == "ircs";
                let authority = rest.split('/').next().unwrap_or_default();
                let (host, port) = match authority.rsplit_once(':') {
                    Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad())?),
                    None => (authority, if tls { 6697 } else { 6667 }),
                };
                let host = host.trim_start_matches('[').trim_end_matches(']');
                if host.is_empty() {
                    return Err(bad());
                }
                Ok(ChatUrl::Irc {
                    host: host.to_string(),
                    port,
                    tls,
                })
            }
            _ => Err(bad()),
        }
    }
}

trait ByteStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> ByteStream for T {}

/// An open chat connection.
pub struct Transport {
    inner: Inner,
    /// Bytes read but not yet split into lines (TCP/TLS only).
    buf: Vec<u8>,
}

enum Inner {
    Stream(Box<dyn ByteStream>),
    Ws(Box<WsStream>),
}

impl Transport {
    /// Opens a connection to `url`.
    ///
    /// # Errors
    /// Any connect, TLS or WebSocket handshake error.
    pub async fn connect(url: &ChatUrl) -> io::Result<Transport> {
        let inner = match url {
            ChatUrl::Irc { host, port, tls } => {
                let tcp = TcpStream::connect((host.as_str(), *port)).await?;
                tcp.set_nodelay(true)?;
                if *tls {
                    let name = ServerName::try_from(host.clone())
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                    let stream = tls_connector()?.connect(name, tcp).await?;
                    Inner::Stream(Box::new(stream))
                } else {
                    Inner::Stream(Box::new(tcp))
                }
            }
            ChatUrl::WebSocket { url } => {
                let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
                    .max_message_size(Some(MAX_WS_MESSAGE))
                    .max_frame_size(Some(MAX_WS_MESSAGE));
                let (ws, _) =
                    tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), true)
                        .await
                        .map_err(io::Error::other)?;
                if let MaybeTlsStream::Plain(tcp) = ws.get_ref() {
                    tcp.set_nodelay(true)?;
                }
                Inner::Ws(Box::new(ws))
            }
        };
        Ok(Transport {
            inner,
            buf: Vec::with_capacity(READ_CHUNK),
        })
    }

    /// Splits the connection into a reading half and a writing half that work independently:
    /// a reader waiting (for data, or for room to deliver it) never blocks the writer.
    pub fn split(self) -> (LineReader, LineWriter) {
        match self.inner {
            Inner::Stream(stream) => {
                let (r, w) = tokio::io::split(stream);
                (
                    LineReader {
                        inner: ReadInner::Stream(r),
                        buf: self.buf,
                    },
                    LineWriter {
                        inner: WriteInner::Stream(w),
                    },
                )
            }
            Inner::Ws(ws) => {
                let (w, r) = (*ws).split();
                (
                    LineReader {
                        inner: ReadInner::Ws(r),
                        buf: self.buf,
                    },
                    LineWriter {
                        inner: WriteInner::Ws(w),
                    },
                )
            }
        }
    }
}

type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The reading half of a chat connection.
pub struct LineReader {
    inner: ReadInner,
    /// Bytes read but not yet split into lines (TCP/TLS only).
    buf: Vec<u8>,
}

enum ReadInner {
    Stream(ReadHalf<Box<dyn ByteStream>>),
    Ws(SplitStream<WsStream>),
}

/// The writing half of a chat connection.
pub struct LineWriter {
    inner: WriteInner,
}

enum WriteInner {
    Stream(WriteHalf<Box<dyn ByteStream>>),
    Ws(SplitSink<WsStream, Message>),
}

impl LineReader {
    /// Waits for data and hands every complete line (without `\r\n`) to `on_line`.
    /// Returns `Ok(false)` when the server closed the connection.
    ///
    /// Cancel-safe: if dropped while waiting, no data is lost.
    ///
    /// # Errors
    /// Read errors, WebSocket protocol errors, or a line longer than 64 KiB.
    pub async fn read_lines(&mut self, mut on_line: impl FnMut(&str)) -> io::Result<bool> {
        match &mut self.inner {
            ReadInner::Stream(stream) => {
                // Room for a flood's worth per read: one wake-up and one syscall then carry a
                // hundred lines or so to the dispatcher instead of a dozen.
                if self.buf.capacity() - self.buf.len() < READ_CHUNK / 2 {
                    self.buf.reserve(READ_CHUNK);
                }
                let n = stream.read_buf(&mut self.buf).await?;
                if n == 0 {
                    return Ok(false);
                }
                let mut start = 0;
                while let Some(pos) = memchr::memchr(b'\n', &self.buf[start..]) {
                    let line = &self.buf[start..start + pos];
                    emit_line(line, &mut on_line);
                    start += pos + 1;
                }
                self.buf.drain(..start);
                if self.buf.len() > MAX_LINE {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
                }
                Ok(true)
            }
            ReadInner::Ws(ws) => loop {
                let Some(msg) = ws.next().await else {
                    return Ok(false);
                };
                match msg.map_err(io::Error::other)? {
                    Message::Text(text) => {
                        for line in text.as_str().split('\n') {
                            emit_line(line.as_bytes(), &mut on_line);
                        }
                        return Ok(true);
                    }
                    Message::Binary(bytes) => {
                        for line in bytes.split(|b| *b == b'\n') {
                            emit_line(line, &mut on_line);
                        }
                        return Ok(true);
                    }
                    Message::Close(_) => return Ok(false),
                    // tungstenite answers pings itself.
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                }
            },
        }
    }
}

impl LineWriter {
    /// Writes several lines, each terminated with `\r\n` (one WebSocket frame each).
    ///
    /// # Errors
    /// Write errors.
    pub async fn write_lines<S: AsRef<str>>(&mut self, lines: &[S]) -> io::Result<()> {
        match &mut self.inner {
            WriteInner::Stream(stream) => {
                let mut out = Vec::with_capacity(lines.iter().map(|l| l.as_ref().len() + 2).sum());
                for line in lines {
                    out.extend_from_slice(line.as_ref().as_bytes());
                    out.extend_from_slice(b"\r\n");
                }
                stream.write_all(&out).await?;
                stream.flush().await
            }
            WriteInner::Ws(ws) => {
                for line in lines {
                    ws.feed(Message::text(format!("{}\r\n", line.as_ref())))
                        .await
                        .map_err(io::Error::other)?;
                }
                ws.flush().await.map_err(io::Error::other)
            }
        }
    }

    /// Closes politely (best effort).
    pub async fn close(&mut self) {
        match &mut self.inner {
            WriteInner::Stream(stream) => {
                let _ = stream.shutdown().await;
            }
            WriteInner::Ws(ws) => {
                let _ = ws.close().await;
            }
        }
    }
}

fn emit_line(line: &[u8], on_line: &mut impl FnMut(&str)) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return;
    }
    match std::str::from_utf8(line) {
        Ok(text) => on_line(text),
        Err(_) => on_line(&String::from_utf8_lossy(line)),
    }
}

fn tls_connector() -> io::Result<TlsConnector> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_four_url_forms_parse() {
        assert_eq!(
            ChatUrl::parse("wss://irc-ws.chat.twitch.tv:443"),
            Ok(ChatUrl::WebSocket {
                url: "wss://irc-ws.chat.twitch.tv:443".into()
            })
        );
        assert_eq!(
            ChatUrl::parse("ircs://irc.chat.twitch.tv:6697"),
            Ok(ChatUrl::Irc {
                host: "irc.chat.twitch.tv".into(),
                port: 6697,
                tls: true
            })
        );
        assert_eq!(
            ChatUrl::parse("irc://127.0.0.1:6667"),
            Ok(ChatUrl::Irc {
                host: "127.0.0.1".into(),
                port: 6667,
                tls: false
            })
        );
        assert_eq!(
            ChatUrl::parse("irc://localhost"),
            Ok(ChatUrl::Irc {
                host: "localhost".into(),
                port: 6667,
                tls: false
            })
        );
        assert!(matches!(
            ChatUrl::parse("ws://127.0.0.1:9000"),
            Ok(ChatUrl::WebSocket { .. })
        ));
    }

    /// A WebSocket chat server on 127.0.0.1 that sends `messages`, then waits for the client.
    async fn ws_server(messages: Vec<String>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accept");
            let mut ws = tokio_tungstenite::accept_async(tcp).await.expect("ws");
            for m in messages {
                if ws.send(Message::text(m)).await.is_err() {
                    return;
                }
            }
            while ws.next().await.is_some() {}
        });
        format!("ws://{addr}")
    }

    #[tokio::test]
    async fn an_oversized_websocket_message_breaks_the_link_instead_of_filling_memory() {
        let line = format!("PING :{}\r\n", "x".repeat(1000));
        let normal = line.repeat(8);
        // Lines of 1 KiB each (no single line is too long), 2 MiB in one message.
        let huge = line.repeat(2048);
        let url = ws_server(vec![normal, huge]).await;
        let (mut t, _writer) = Transport::connect(&ChatUrl::WebSocket { url })
            .await
            .expect("connect")
            .split();
        let mut lines = 0;
        assert!(
            t.read_lines(|_| lines += 1)
                .await
                .expect("a normal message")
        );
        assert_eq!(lines, 8);
        let err = t
            .read_lines(|_| lines += 1)
            .await
            .expect_err("a 2 MiB message is refused");
        assert!(err.to_string().contains("too long"), "{err}");
        assert_eq!(lines, 8, "nothing of the oversized message was handed on");
    }

    #[test]
    fn other_forms_are_refused_with_the_key_named() {
        for bad in [
            "http://x:1",
            "irc.chat.twitch.tv:6667",
            "irc://:6667",
            "irc://h:notaport",
            "wss://",
        ] {
            let err = ChatUrl::parse(bad).unwrap_err();
            assert!(err.to_string().contains("twitch.chat_url"), "{err}");
        }
    }
}
