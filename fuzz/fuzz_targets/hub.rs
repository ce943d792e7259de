#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| unbusy::fuzzing::check_hub(data));
