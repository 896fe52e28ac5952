#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| twitch_bot::fuzzing::eventsub_json(data));
