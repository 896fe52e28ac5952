#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| twitch_bot::fuzzing::console_body(data));
