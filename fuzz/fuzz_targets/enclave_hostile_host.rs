//! Drives a live enclave's entry point the way a host that lies about everything can: each input
//! is a sequence of invented chain transactions (any call, sender, value, block time and number,
//! drawn pool or challenge id, at the next index), mutated protocol messages, valid requests,
//! the real chain's transactions and time passing. Nothing may panic, and a rejected event must
//! leave the enclave unchanged. Each input starts from a fresh enclave, so a crash replays.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pose_sim::harness::Solo;

fuzz_target!(|data: &[u8]| {
    let mut solo = Solo::new(1);
    solo.fuzz_hostile_host(data);
});
