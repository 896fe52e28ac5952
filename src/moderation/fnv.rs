//! FNV-1a, the cheap hash the pipeline uses for its per-chatter map and for spotting the same
//! message again. Not for anything a viewer could pick keys for.

/// FNV-1a as a `HashMap` hasher for the per-chatter map: keys are Twitch user ids, which
/// viewers cannot choose, so SipHash's flooding resistance buys nothing on this hot path.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct BuildFnv;

impl std::hash::BuildHasher for BuildFnv {
    type Hasher = Fnv;
    fn build_hasher(&self) -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

/// The running FNV-1a state of one key.
pub(super) struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// FNV-1a: a cheap, allocation-free fingerprint for "same message again".
pub(super) fn fnv(bytes: impl Iterator<Item = u8>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}
