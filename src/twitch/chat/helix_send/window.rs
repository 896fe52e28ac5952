//! The posts to `POST /chat/messages` in flight at once: each leaves only after the previous
//! one has been written to its connection, and their answers are handled in the order the
//! posts left, whatever order Twitch answers in.
//!
//! Why a window at all: a post spends most of its life waiting for Twitch's answer (a round
//! trip to Twitch and its work), not leaving. One post at a time caps sending at one message
//! per round trip, which a burst of replies at an unlimited rate class outruns. Overlapping the
//! waits lifts that cap without sending anything sooner than the rate class and the Helix gate
//! allow: both are passed before a post starts, as before.
//!
//! What the order rests on: reqwest offers no HTTP/1.1 pipelining, so posts in flight together
//! use separate connections (over HTTP/2, streams of one connection). A post's body is a
//! [`WrittenBody`], which the HTTP client drops once it has written the request's last byte
//! (or given the request up); the next post starts only then, so posts are *sent* in order.
//! That is not enough for Twitch to *receive* them in order: separate connections are read
//! by the server in whatever order it gets to them, and a burst at the simulated Twitch on a
//! loaded 2-core machine swapped about one neighbour pair in fifteen. Which posts may share
//! the window is therefore the sender's decision (replies in different threads only).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use http_body::{Frame, SizeHint};
use reqwest::StatusCode;
use tokio::sync::oneshot;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::super::outgoing::{OutgoingQueue, Ready};
use crate::twitch::gate::{Permit, TokenKind};

/// Posts in flight at most. The answer, not the writing, is the slow part of a post, so the
/// window sets how many messages go out per answer time. Measured on a loaded 2-core machine
/// (the flood test in `tests/chat.rs`, replies at an unlimited rate class into a 16-message
/// queue): answers there took up to 80 ms, and with four in flight one run in ten still lost
/// twelve replies to the full queue; eight kept up in every run. It also keeps small what
/// can go wrong at once: at most seven later messages can overtake one that has to be tried
/// again, and the bot holds at most eight connections to Twitch's API for chat.
pub(super) const WINDOW: usize = 8;

/// What came back for one post.
#[derive(Debug)]
pub(super) enum Reply {
    /// Twitch answered.
    Answer {
        /// The answer's status.
        status: StatusCode,
        /// The answer's body.
        text: String,
        /// The token the post was sent with (to renew exactly that one on a 401).
        token: String,
    },
    /// No answer: the connection failed or timed out.
    Unreachable(String),
}

/// One post, from the moment it leaves: the request and its gate permit, kept until the answer
/// has been read and its rate-limit headers taken into the gate.
pub(super) struct Post<'a> {
    /// The request, with its body a [`WrittenBody`].
    pub(super) request: reqwest::RequestBuilder,
    /// The gate's leave for this post.
    pub(super) permit: Permit<'a>,
    /// The gate the permit came from.
    pub(super) gate: &'a crate::twitch::gate::Gate,
    /// Which token's bucket the post counts against.
    pub(super) kind: TokenKind,
    /// The token it goes with.
    pub(super) token: String,
    /// How long a 429 keeps the bucket closed at least (grows with the message's failures).
    pub(super) throttle_at_least: std::time::Duration,
}

type InFlight<'a> = Pin<Box<dyn Future<Output = Reply> + Send + 'a>>;

/// The posts in flight, oldest first, and the answers that came back while the sender was busy
/// with something else (starting a post, renewing a token), to be judged in order.
pub(super) struct Window<'a> {
    flying: FuturesOrdered<InFlight<'a>>,
    answered: VecDeque<Reply>,
}

impl<'a> Window<'a> {
    pub(super) fn new() -> Window<'a> {
        Window {
            flying: FuturesOrdered::new(),
            answered: VecDeque::new(),
        }
    }

    /// Starts `post` and waits until its request has been written to its connection (or given
    /// up), so the next post cannot overtake it; the answers of earlier posts are taken in
    /// meanwhile. Gives `None` when `stop` ends first (the post is then still in flight).
    pub(super) async fn start(
        &mut self,
        post: Post<'a>,
        body: Bytes,
        queue: &mut OutgoingQueue,
        stop: &Stop<'_>,
    ) -> Option<()> {
        let (body, written) = WrittenBody::new(body);
        let Post {
            request,
            permit,
            gate,
            kind,
            token,
            throttle_at_least,
        } = post;
        let request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(reqwest::Body::wrap(body));
        self.flying.push_back(Box::pin(async move {
            let resp = match request.send().await {
                Ok(resp) => resp,
                Err(e) => {
                    drop(permit);
                    return Reply::Unreachable(e.to_string());
                }
            };
            let status = resp.status();
            let (limit, remaining, reset) = rate_headers(resp.headers());
            gate.note(kind, limit, remaining, reset);
            if status == StatusCode::TOO_MANY_REQUESTS {
                // The bucket is empty until its reset: the gate holds every later call on the
                // token (this message's next try included) until then.
                gate.throttled(kind, reset, throttle_at_least);
            }
            drop(permit);
            let text = resp.text().await.unwrap_or_default();
            Reply::Answer {
                status,
                text,
                token,
            }
        }));
        self.during(queue, stop, async {
            // An error only says the body is gone without a word: written or given up.
            let _ = written.await;
        })
        .await
    }

    /// Runs `work` while the posts in flight go on (their answers kept for
    /// [`Window::next_answer`]) and replies keep being taken into `queue`. `None` when `stop`
    /// ends first.
    pub(super) async fn during<T>(
        &mut self,
        queue: &mut OutgoingQueue,
        stop: &Stop<'_>,
        work: impl Future<Output = T>,
    ) -> Option<T> {
        tokio::pin!(work);
        let mut intake_open = true;
        loop {
            tokio::select! {
                biased;
                () = stop.ended() => return None,
                out = &mut work => return Some(out),
                Some(reply) = self.flying.next(), if !self.flying.is_empty() => {
                    self.answered.push_back(reply);
                }
                // While posts wait, replies keep being taken in: a burst waits in the queue
                // (bounded, oldest dropped) instead of overflowing the handles' intake.
                ready = queue.ready(false), if intake_open => {
                    intake_open = ready != Ready::Closed;
                }
            }
        }
    }

    /// Waits for the next thing the sender acts on: the answer to the oldest post in flight,
    /// a line the rate class lets go (only with `may_send`), the end of a backoff at
    /// `resume_at`, or `stop`. Replies are taken into `queue` meanwhile.
    pub(super) async fn wait(
        &mut self,
        queue: &mut OutgoingQueue,
        stop: &Stop<'_>,
        may_send: bool,
        resume_at: Option<Instant>,
    ) -> Woke {
        if let Some(reply) = self.answered.pop_front() {
            return Woke::Answer(reply);
        }
        let mut intake_open = true;
        loop {
            tokio::select! {
                biased;
                () = stop.ended() => return Woke::Stopped,
                Some(reply) = self.flying.next(), if !self.flying.is_empty() => {
                    return Woke::Answer(reply);
                }
                () = sleep_until(resume_at.unwrap_or_else(Instant::now)), if resume_at.is_some() => {
                    return Woke::Resume;
                }
                ready = queue.ready(may_send), if intake_open => match ready {
                    Ready::Send => return Woke::Send,
                    Ready::Closed if may_send => return Woke::Idle,
                    Ready::Closed => intake_open = false,
                },
                else => return Woke::Idle,
            }
        }
    }
}

/// What [`Window::wait`] found.
#[derive(Debug)]
pub(super) enum Woke {
    /// The answer to the oldest post in flight.
    Answer(Reply),
    /// A line may be taken from the queue and sent.
    Send,
    /// A backoff is over.
    Resume,
    /// The wait's stop ended it.
    Stopped,
    /// Nothing more can come: every handle is gone and nothing is in flight or waiting.
    Idle,
}

/// What ends a wait early: the shutdown signal while sending normally, a deadline while
/// flushing at shutdown.
pub(super) enum Stop<'a> {
    /// Until shutdown.
    Shutdown(&'a CancellationToken),
    /// Until this instant.
    Deadline(Instant),
}

impl Stop<'_> {
    async fn ended(&self) {
        match self {
            Stop::Shutdown(token) => token.cancelled().await,
            Stop::Deadline(at) => sleep_until(*at).await,
        }
    }
}

/// A request body of known length that says when the HTTP client is done with it: the client
/// drops it once the last byte has been written to the connection, or when it gives the
/// request up. Either way the next post may start.
struct WrittenBody {
    data: Option<Bytes>,
    _written: oneshot::Sender<()>,
}

impl WrittenBody {
    fn new(data: Bytes) -> (WrittenBody, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        (
            WrittenBody {
                data: Some(data),
                _written: tx,
            },
            rx,
        )
    }
}

impl http_body::Body for WrittenBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.data.take().map(|d| Ok(Frame::data(d))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        // Exact, so the request carries a Content-Length rather than chunked encoding.
        SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}

fn rate_headers(headers: &reqwest::header::HeaderMap) -> (Option<u64>, Option<u64>, Option<u64>) {
    let num = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    (
        num("ratelimit-limit"),
        num("ratelimit-remaining"),
        num("ratelimit-reset"),
    )
}
