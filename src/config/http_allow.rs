//! The allow-list of hosts scripts may reach over HTTP (`scripts.http_allow`), read from the
//! config: its entries (host names, IP addresses, CIDR ranges, each with an optional port and
//! `http://`) and the check of a URL against them. The connection guard lives with the HTTP
//! client in `integrations::web`.

use std::net::IpAddr;

use ipnet::IpNet;
use reqwest::Url;

/// The longest `scripts.http_timeout_secs`.
pub const MAX_TIMEOUT_SECS: u64 = 5;

/// What an entry of the allow-list names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Host(String),
    Ip(IpAddr),
    Net(IpNet),
}

/// One entry of `scripts.http_allow`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    target: Target,
    /// Only this port, when given.
    port: Option<u16>,
    /// Written with `http://`: plain HTTP is allowed too.
    http: bool,
}

impl Entry {
    fn parse(text: &str) -> Result<Entry, String> {
        let lower = text.trim().to_ascii_lowercase();
        let (http, rest) = if let Some(rest) = lower.strip_prefix("http://") {
            (true, rest)
        } else if let Some(rest) = lower.strip_prefix("https://") {
            (false, rest)
        } else if lower.contains("://") {
            return Err("only http:// and https:// are allowed".into());
        } else {
            (false, lower.as_str())
        };
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() {
            return Err("empty: write a host name, an IP address or a CIDR range".into());
        }
        if let Ok(net) = rest.parse::<IpNet>() {
            return Ok(Entry {
                target: Target::Net(net.trunc()),
                port: None,
                http,
            });
        }
        if let Ok(ip) = rest.parse::<IpAddr>() {
            return Ok(Entry {
                target: Target::Ip(ip),
                port: None,
                http,
            });
        }
        if rest.contains(['/', '?', '#', '@']) {
            return Err("a host, not a URL: leave out the path".into());
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (ip, after) = v6
                .split_once(']')
                .ok_or_else(|| "an IPv6 address in [ ] lacks its ]".to_string())?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(port_of(p)?),
                None if after.is_empty() => None,
                None => return Err(format!("unexpected {after:?} after the address")),
            };
            (ip, port)
        } else {
            match rest.rsplit_once(':') {
                Some((host, p)) => (host, Some(port_of(p)?)),
                None => (rest, None),
            }
        };
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(Entry {
                target: Target::Ip(ip),
                port,
                http,
            });
        }
        let host = host.trim_end_matches('.');
        let valid = !host.is_empty()
            && host.len() <= 253
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !valid {
            return Err(format!("{host:?} is not a host name"));
        }
        Ok(Entry {
            target: Target::Host(host.to_string()),
            port,
            http,
        })
    }
}

fn port_of(text: &str) -> Result<u16, String> {
    text.parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("{text:?} is not a port"))
}

/// The hosts scripts may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    entries: Vec<Entry>,
}

impl AllowList {
    /// Reads `scripts.http_allow`.
    ///
    /// # Errors
    /// Each entry that cannot be read, as `entry N ("text"): why` (N counts from 1).
    pub fn parse(entries: &[String]) -> Result<AllowList, Vec<String>> {
        let mut list = AllowList::default();
        let mut errors = Vec::new();
        for (n, text) in entries.iter().enumerate() {
            match Entry::parse(text) {
                Ok(entry) => list.entries.push(entry),
                Err(why) => errors.push(format!("entry {} ({text:?}): {why}", n + 1)),
            }
        }
        if errors.is_empty() {
            Ok(list)
        } else {
            Err(errors)
        }
    }

    /// Whether a script may ask for `url` (the host as written; the addresses a name resolves
    /// to are checked when connecting).
    ///
    /// # Errors
    /// Why not, in words a streamer can act on.
    pub fn check(&self, url: &Url) -> Result<(), String> {
        let scheme = url.scheme();
        if scheme != "http" && scheme != "https" {
            return Err(format!(
                "only http:// and https:// addresses, not {scheme}://"
            ));
        }
        let port = url.port_or_known_default().unwrap_or(0);
        let Some(shown) = url.host_str().filter(|h| !h.is_empty()) else {
            return Err("the address has no host".into());
        };
        // The URL parser writes IPv6 hosts in [ ] and IPv4 hosts in dotted form.
        let bare = shown.trim_start_matches('[').trim_end_matches(']');
        let host = match bare.parse::<IpAddr>() {
            Ok(ip) => Host::Ip(ip),
            Err(_) => Host::Name(bare.trim_end_matches('.').to_ascii_lowercase()),
        };
        let matching: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| match (&e.target, &host) {
                (Target::Host(h), Host::Name(n)) => h == n,
                (Target::Ip(ip), Host::Ip(a)) => ip == a,
                (Target::Net(net), Host::Ip(a)) => net.contains(a),
                _ => false,
            })
            .filter(|e| e.port.is_none_or(|p| p == port))
            .collect();
        if matching.is_empty() {
            return Err(format!(
                "{shown} is not on the allow-list (scripts.http_allow in configs/bot.yaml)"
            ));
        }
        if scheme == "http" && !matching.iter().any(|e| e.http) {
            return Err(format!(
                "plain http:// to {shown} is refused: use https://, or list it as \
                 http://{shown} in scripts.http_allow"
            ));
        }
        Ok(())
    }
}

enum Host {
    Name(String),
    Ip(IpAddr),
}
