//! Who may use the console: the long-lived console token (sent as `Authorization: Bearer`, or
//! pasted into the sign-in page), one-time login codes, browser sessions with a lifetime, the
//! `Host` and same-origin rules, and the per-address throttle on failed token checks.
//!
//! Owns the secrets' checks only; the token itself is stored by the app in secrets.yaml.
//!
//! This file holds the secrets' side (tokens, codes, sessions, the throttle, allowed hosts);
//! `guard` is the check every request passes, `login` the sign-in endpoints and page.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};

mod guard;
mod login;

pub use guard::{ClientIp, from_own_page, require_auth, same_origin};
pub(crate) use login::pasted_token;
pub use login::{LoginQuery, login, login_link, login_with_token, logout_all};

/// The session cookie's name.
pub const COOKIE: &str = "twitch_bot_console";

/// Failed token checks an address may make per [`FAILURE_WINDOW`] before it gets 429.
pub const MAX_FAILURES: usize = 5;
/// The window [`MAX_FAILURES`] counts in.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Unused one-time codes kept; minting more drops the oldest.
const MAX_LOGIN_CODES: usize = 32;
/// Addresses whose failures are remembered; beyond it the oldest entries are forgotten.
const MAX_TRACKED_ADDRESSES: usize = 4096;

/// A fresh random secret: 32 bytes as 64 hex digits. Used for the console token, login codes
/// and sessions. `rand`'s thread generator is a CSPRNG seeded from the operating system.
pub fn generate_token() -> String {
    let bytes: [u8; 32] = rand::random();
    let mut s = String::with_capacity(64);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Compares secrets in time that depends only on their lengths, so timing reveals no prefix.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How sessions, cookies and hosts are handled; set once when the console starts.
#[derive(Debug, Clone)]
pub struct Policy {
    /// A session's lifetime without use (each use renews it).
    pub session_life: Duration,
    /// Cookies get `Secure` (HTTPS, or a proxy serving HTTPS).
    pub secure: bool,
    /// `Host` values accepted (lower-case, with port); empty: loopback names on any port.
    pub hosts: Vec<String>,
    /// The start of one-time links: `http://127.0.0.1:8081`.
    pub link_base: String,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            session_life: Duration::from_secs(12 * 3600),
            secure: false,
            hosts: Vec::new(),
            link_base: "http://127.0.0.1:8081".into(),
        }
    }
}

/// What a request proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// The console token as `Authorization: Bearer`.
    Bearer,
    /// A live session cookie.
    Session,
    /// A Bearer header with the wrong token.
    WrongToken,
    /// Nothing (or a stale cookie).
    None,
}

/// The console's credentials: the token, the unused login codes and the open sessions.
pub struct Auth {
    // std locks: held only for a few comparisons, never across an await.
    token: RwLock<String>,
    login_codes: Mutex<VecDeque<String>>,
    /// Session → when it expires unless used again.
    sessions: Mutex<HashMap<String, Instant>>,
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
    policy: Policy,
}

/// Every field is a credential: `Debug` shows only how many there are.
impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field(
                "token_set",
                &!self
                    .token
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .is_empty(),
            )
            .field("login_codes", &lock(&self.login_codes).len())
            .field("sessions", &lock(&self.sessions).len())
            .finish()
    }
}

impl Auth {
    /// Credentials checking against `token`. An empty token admits no Bearer requests.
    pub fn new(token: String) -> Auth {
        Auth::with_policy(token, Policy::default())
    }

    /// Credentials with the given session and host rules.
    pub fn with_policy(token: String, policy: Policy) -> Auth {
        Auth {
            token: RwLock::new(token),
            login_codes: Mutex::new(VecDeque::new()),
            sessions: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            policy,
        }
    }

    /// The rules this console runs with.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// A new one-time login code (for the URL printed in the terminal).
    pub fn new_login_code(&self) -> String {
        let code = generate_token();
        let mut codes = lock(&self.login_codes);
        if codes.len() >= MAX_LOGIN_CODES {
            codes.pop_front();
        }
        codes.push_back(code.clone());
        code
    }

    /// A new one-time sign-in URL.
    pub fn login_url(&self) -> String {
        format!(
            "{}/login?token={}",
            self.policy.link_base,
            self.new_login_code()
        )
    }

    /// Uses up `code` and opens a session for it; `None` if it is unknown or already used.
    pub fn redeem(&self, code: &str) -> Option<String> {
        let mut codes = lock(&self.login_codes);
        let at = codes.iter().position(|c| same_secret(c, code))?;
        codes.remove(at);
        drop(codes);
        Some(self.open_session())
    }

    /// Opens a session when `token` is the console token (a pasted token).
    pub fn sign_in(&self, token: &str) -> Option<String> {
        self.is_token(token.trim()).then(|| self.open_session())
    }

    fn is_token(&self, candidate: &str) -> bool {
        let token = self.token.read().unwrap_or_else(PoisonError::into_inner);
        !token.is_empty() && same_secret(candidate, &token)
    }

    fn open_session(&self) -> String {
        let session = generate_token();
        let now = Instant::now();
        let mut sessions = lock(&self.sessions);
        sessions.retain(|_, expires| *expires > now);
        sessions.insert(session.clone(), now + self.policy.session_life);
        session
    }

    /// Replaces the console token and ends every session and unused login code.
    pub fn rotate(&self, token: String) {
        *self.token.write().unwrap_or_else(PoisonError::into_inner) = token;
        lock(&self.sessions).clear();
        lock(&self.login_codes).clear();
    }

    /// What the request proves; a live session is renewed by the check.
    pub fn credential(&self, headers: &HeaderMap) -> Credential {
        if let Some(bearer) = headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix("Bearer "))
        {
            return if self.is_token(bearer.trim()) {
                Credential::Bearer
            } else {
                Credential::WrongToken
            };
        }
        let Some(cookie) = session_cookie(headers) else {
            return Credential::None;
        };
        let now = Instant::now();
        let mut sessions = lock(&self.sessions);
        let live = sessions
            .iter_mut()
            .find(|(s, _)| same_secret(s, cookie))
            .filter(|(_, expires)| **expires > now);
        match live {
            Some((_, expires)) => {
                *expires = now + self.policy.session_life;
                Credential::Session
            }
            None => Credential::None,
        }
    }

    /// Whether the request carries the token or a live session cookie.
    pub fn is_authorised(&self, headers: &HeaderMap) -> bool {
        matches!(
            self.credential(headers),
            Credential::Bearer | Credential::Session
        )
    }

    /// The `Set-Cookie` value for `session`.
    pub fn cookie(&self, session: &str) -> String {
        let secure = if self.policy.secure { "; Secure" } else { "" };
        format!(
            "{COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            self.policy.session_life.as_secs()
        )
    }

    /// Seconds until `ip` may try a token again, when it is over the limit.
    pub fn throttled(&self, ip: IpAddr) -> Option<u64> {
        let now = Instant::now();
        let mut failures = lock(&self.failures);
        let times = failures.get_mut(&ip)?;
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= FAILURE_WINDOW)
        {
            times.pop_front();
        }
        if times.len() < MAX_FAILURES {
            return None;
        }
        let oldest = times.front().copied()?;
        let wait = FAILURE_WINDOW.saturating_sub(now.duration_since(oldest));
        Some(wait.as_secs().max(1))
    }

    /// Counts a failed token check from `ip`.
    pub fn failed(&self, ip: IpAddr) {
        let now = Instant::now();
        let mut failures = lock(&self.failures);
        if failures.len() >= MAX_TRACKED_ADDRESSES && !failures.contains_key(&ip) {
            failures.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < FAILURE_WINDOW)
            });
            if failures.len() >= MAX_TRACKED_ADDRESSES {
                failures.clear();
            }
        }
        let times = failures.entry(ip).or_default();
        times.push_back(now);
        while times.len() > MAX_FAILURES {
            times.pop_front();
        }
    }

    /// Whether `host` (the `Host` header) names this console.
    pub fn host_allowed(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        if self.policy.hosts.is_empty() {
            let name = host.rsplit_once(':').map_or(host.as_str(), |(n, _)| n);
            return matches!(name, "127.0.0.1" | "localhost" | "[::1]");
        }
        self.policy.hosts.contains(&host)
    }
}

/// The `Host` values a console at `addr` answers to: loopback names with its port, the address
/// itself when it is a specific one, and `public_name` (as written, and with the port).
pub fn allowed_hosts(addr: SocketAddr, public_name: Option<&str>) -> Vec<String> {
    let port = addr.port();
    let mut hosts = vec![
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ];
    if !addr.ip().is_unspecified() && !addr.ip().is_loopback() {
        hosts.push(addr.to_string());
    }
    if let Some(name) = public_name {
        let name = name.to_ascii_lowercase();
        hosts.push(format!("{name}:{port}"));
        hosts.push(name);
    }
    hosts
}

/// The session cookie's value, if the request has one.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn debug_output_holds_no_credential() {
        let auth = Auth::new("console-token-value".into());
        let code = auth.new_login_code();
        let session = auth.redeem(&code).expect("a fresh code signs in");
        let shown = format!("{auth:?}");
        for secret in ["console-token-value", code.as_str(), session.as_str()] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("sessions: 1"), "{shown}");
    }

    #[test]
    fn tokens_are_64_hex_digits_and_differ() {
        let a = generate_token();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, generate_token());
    }

    #[test]
    fn a_login_code_works_once() {
        let auth = Auth::new("t".into());
        let code = auth.new_login_code();
        let session = auth.redeem(&code);
        assert!(session.is_some());
        assert!(auth.redeem(&code).is_none());
        let mut h = HeaderMap::new();
        let cookie = format!("a=b; {COOKIE}={}", session.unwrap_or_default());
        h.insert(header::COOKIE, HeaderValue::from_str(&cookie).unwrap());
        assert!(auth.is_authorised(&h));
    }

    #[test]
    fn origin_must_match_host() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8081"));
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8081"),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&h));
    }

    #[test]
    fn a_browser_change_needs_proof_of_its_own_page() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8081"));
        assert!(!from_own_page(&h), "no Origin and no Sec-Fetch-Site");
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(from_own_page(&h));
        h.insert("sec-fetch-site", HeaderValue::from_static("same-site"));
        assert!(!from_own_page(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8081"),
        );
        assert!(from_own_page(&h));
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!from_own_page(&h));
    }

    #[test]
    fn hosts_are_the_consoles_own_names_only() {
        let auth = Auth::with_policy(
            "t".into(),
            Policy {
                hosts: allowed_hosts("0.0.0.0:8443".parse().unwrap(), Some("Bot.Example.org")),
                ..Policy::default()
            },
        );
        for ok in [
            "127.0.0.1:8443",
            "LOCALHOST:8443",
            "[::1]:8443",
            "bot.example.org",
            "bot.example.org:8443",
        ] {
            assert!(auth.host_allowed(ok), "{ok}");
        }
        for bad in [
            "127.0.0.1:8081",
            "0.0.0.0:8443",
            "evil.example:8443",
            "bot.example.org.evil.example",
            "",
        ] {
            assert!(!auth.host_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn failures_are_throttled_per_address() {
        let auth = Auth::new("t".into());
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..MAX_FAILURES {
            assert_eq!(auth.throttled(a), None);
            auth.failed(a);
        }
        let wait = auth.throttled(a).expect("throttled");
        assert!((1..=60).contains(&wait), "{wait}");
        assert_eq!(auth.throttled(b), None, "another address is not affected");
    }

    #[test]
    fn an_empty_token_admits_nobody() {
        let auth = Auth::new(String::new());
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert!(!auth.is_authorised(&h));
    }
}
