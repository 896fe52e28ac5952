//! HTTP for scripts (`ctx.http`): the allow-list from `scripts.http_allow`, the guard that
//! refuses loopback, private and link-local addresses (checked on the address a name resolves
//! to, at connect time and again on every redirect, so DNS rebinding gets nothing), the redirect
//! policy, the timeout, the body cap and the per-script rate limit.
//!
//! Rules: a URL's host must be on the allow-list; `https://` only, unless its entry is written
//! with `http://`; a host name is connected to only at the public addresses it resolves to;
//! an address that is not public (loopback, private, link-local, …) is reached only through an
//! IP literal or CIDR range on the list, written as such in the URL — a host name never
//! unlocks one.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::Url;

pub use crate::config::http_allow::{AllowList, MAX_TIMEOUT_SECS};
use crate::config::scripts::ScriptsConfig;
use crate::scripting::api::{HttpAnswer, HttpRequest, ScriptHttp};

/// The most redirects one request follows.
const MAX_REDIRECTS: usize = 5;

/// Whether `ip` is a public unicast address: not loopback, private, link-local, shared (CGNAT),
/// unspecified, multicast, broadcast, documentation or reserved, nor one of those wrapped in
/// IPv6 (mapped, NAT64, 6to4).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => public_v6(v6),
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return public_v4(v4);
    }
    let s = ip.segments();
    let embedded =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if s[0] == 0x64 && s[1] == 0xff9b {
        return public_v4(embedded(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return public_v4(embedded(s[1], s[2]));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x2001 && s[1] == 0) // Teredo
        || s[..6] == [0; 6]) // IPv4-compatible and other ::/96 forms
}

/// The resolver reqwest connects through: a name's addresses, less every one that is not public.
/// A name that resolves only to such addresses is refused, whatever the allow-list says.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let name = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await
                .map_err(|e| format!("cannot resolve {name}: {e}"))?
                .collect();
            let (public, refused): (Vec<SocketAddr>, Vec<SocketAddr>) =
                found.into_iter().partition(|a| is_public(a.ip()));
            if public.is_empty() {
                let shown: Vec<String> = refused.iter().map(|a| a.ip().to_string()).collect();
                return Err(format!(
                    "{name} resolves to {} — a loopback, private or link-local address, which a \
                     host name never unlocks (list the address itself to reach it)",
                    if shown.is_empty() {
                        "nothing".to_string()
                    } else {
                        shown.join(", ")
                    }
                )
                .into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

/// `ctx.http` for the running bot.
pub struct WebForScripts {
    client: reqwest::Client,
    allow: Arc<AllowList>,
    max_bytes: usize,
    per_minute: usize,
    recent: Mutex<HashMap<String, VecDeque<Instant>>>,
    runtime: tokio::runtime::Handle,
}

impl WebForScripts {
    /// The client for `config`'s allow-list and limits; its calls wait on `runtime`.
    ///
    /// # Errors
    /// An unreadable allow-list entry (see [`AllowList::parse`]) or a client that cannot be
    /// built.
    pub fn new(
        config: &ScriptsConfig,
        runtime: tokio::runtime::Handle,
    ) -> Result<WebForScripts, String> {
        let allow = Arc::new(
            AllowList::parse(&config.http_allow)
                .map_err(|e| format!("scripts.http_allow: {}", e.join("; ")))?,
        );
        let policy_list = allow.clone();
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            // `previous` holds the first URL too: this is redirect number `previous().len()`.
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
            }
            match policy_list.check(attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(why) => attempt.error(format!("a redirect was refused: {why}")),
            }
        });
        let timeout = Duration::from_secs(config.http_timeout_secs.clamp(1, MAX_TIMEOUT_SECS));
        let client = reqwest::Client::builder()
            // A proxy would resolve the name itself, out of the guard's reach.
            .no_proxy()
            .dns_resolver(Arc::new(PublicOnly))
            .redirect(policy)
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("twitch-bot/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(WebForScripts {
            client,
            allow,
            max_bytes: usize::try_from(config.http_max_bytes).unwrap_or(usize::MAX),
            per_minute: usize::try_from(config.http_per_minute).unwrap_or(usize::MAX),
            recent: Mutex::new(HashMap::new()),
            runtime,
        })
    }

    /// Counts a request by `script`; refuses it past the per-minute limit.
    fn admit(&self, script: &str) -> Result<(), String> {
        let now = Instant::now();
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let times = recent.entry(script.to_string()).or_default();
        while times
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= Duration::from_secs(60))
        {
            times.pop_front();
        }
        if times.len() >= self.per_minute {
            return Err(format!(
                "this script made {} requests in the last minute, its limit \
                 (scripts.http_per_minute in configs/bot.yaml)",
                times.len()
            ));
        }
        times.push_back(now);
        Ok(())
    }

    async fn send(&self, request: HttpRequest) -> Result<HttpAnswer, String> {
        let url = Url::parse(request.url.trim()).map_err(|e| format!("not an address ({e})"))?;
        self.allow.check(&url)?;
        let mut builder = match request.body {
            None => self.client.get(url.clone()),
            Some((content_type, body)) => self
                .client
                .post(url.clone())
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body),
        };
        builder = builder.header(
            reqwest::header::ACCEPT,
            "application/json, text/plain;q=0.9, */*;q=0.5",
        );
        let answer = builder.send().await.map_err(|e| failure(&e))?;
        let status = answer.status().as_u16();
        if answer
            .content_length()
            .is_some_and(|n| n > self.max_bytes as u64)
        {
            return Err(self.too_large());
        }
        let mut body = Vec::new();
        let mut stream = answer.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| failure(&e))?;
            if body.len().saturating_add(chunk.len()) > self.max_bytes {
                return Err(self.too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpAnswer {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    fn too_large(&self) -> String {
        format!(
            "the answer is larger than {} bytes (scripts.http_max_bytes in configs/bot.yaml)",
            self.max_bytes
        )
    }
}

/// `ctx.http` for a bot with `config`: `None` (HTTP off) when no host is allowed or the list
/// cannot be read (said in the log; `twitch-bot check` reports it too).
pub fn for_scripts(
    config: &ScriptsConfig,
    runtime: tokio::runtime::Handle,
) -> Option<Arc<dyn ScriptHttp>> {
    if config.http_allow.is_empty() {
        return None;
    }
    match WebForScripts::new(config, runtime) {
        Ok(web) => Some(Arc::new(web)),
        Err(e) => {
            tracing::warn!("ctx.http is off: {e}");
            None
        }
    }
}

/// A request's failure with its causes, without the URL (its query may hold an API key).
fn failure(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "no answer in time".to_string()
    } else if e.is_redirect() {
        "a redirect was refused".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        "the request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    let mut last = String::new();
    while let Some(cause) = source {
        let said = cause.to_string();
        // reqwest repeats a cause's text at several levels; show each once.
        if !said.is_empty() && !last.contains(&said) && !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
            last = said;
        }
        source = cause.source();
    }
    text
}

impl ScriptHttp for WebForScripts {
    fn fetch(&self, script: &str, request: HttpRequest) -> Result<HttpAnswer, String> {
        self.admit(script)?;
        self.runtime.block_on(self.send(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> AllowList {
        AllowList::parse(&entries.iter().map(|s| (*s).to_string()).collect::<Vec<_>>())
            .expect("entries read")
    }

    fn url(u: &str) -> Url {
        Url::parse(u).expect("url")
    }

    #[test]
    fn entries_read_hosts_ports_addresses_and_ranges() {
        let l = list(&[
            "api.example.com",
            "http://plain.example.org:8080",
            "127.0.0.1",
            "http://10.0.0.0/8",
            "[::1]:9000",
        ]);
        assert!(l.check(&url("https://api.example.com/x?y=1")).is_ok());
        assert!(l.check(&url("https://API.Example.com./x")).is_ok());
        assert!(
            l.check(&url("http://api.example.com/x")).is_err(),
            "https only"
        );
        assert!(l.check(&url("https://sub.api.example.com/")).is_err());
        assert!(l.check(&url("http://plain.example.org:8080/")).is_ok());
        assert!(l.check(&url("http://plain.example.org/")).is_err(), "port");
        assert!(l.check(&url("https://127.0.0.1:4444/")).is_ok());
        assert!(l.check(&url("http://127.0.0.1/")).is_err(), "https only");
        assert!(l.check(&url("http://10.1.2.3:81/")).is_ok());
        assert!(l.check(&url("http://11.1.2.3/")).is_err());
        assert!(l.check(&url("https://[::1]:9000/")).is_ok());
        assert!(l.check(&url("ftp://api.example.com/")).is_err());
        let err = l.check(&url("https://evil.example/")).unwrap_err();
        assert!(err.contains("scripts.http_allow"), "{err}");
    }

    #[test]
    fn unreadable_entries_name_their_place() {
        let errors = AllowList::parse(&[
            "ok.example".into(),
            "https://x.example/path".into(),
            "ftp://x.example".into(),
            "bad host".into(),
            "x.example:99999".into(),
        ])
        .unwrap_err();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].starts_with("entry 2 "), "{errors:?}");
    }

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.1.1",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::1",
            "::127.0.0.1",
        ] {
            assert!(!is_public(private.parse().expect("ip")), "{private}");
        }
        for public in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(public.parse().expect("ip")), "{public}");
        }
    }
}
