//! The one way a peer test gives up when its peer (OBS, libzmq, a D-Bus server, a browser, a
//! tmpfs mount) is missing: a visible `skipped:` line, or, with `TB_REQUIRE_PEERS=1` (set by
//! `.ci/run`, which installs every peer), a failure, so a CI machine that lost a peer is red.
#![allow(dead_code)]

/// Reports that the calling test cannot run here because of `why`.
///
/// # Panics
/// When `TB_REQUIRE_PEERS=1`: the peer should be there.
pub fn skipped(why: &str) {
    if std::env::var("TB_REQUIRE_PEERS").is_ok_and(|v| v == "1") {
        panic!("TB_REQUIRE_PEERS=1, but this peer test cannot run: {why}");
    }
    eprintln!("skipped: {why}");
}
