//! The simulated Twitch used by `--offline` and by tests.
