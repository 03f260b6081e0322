//! Feeds arbitrary bytes to a live enclave's entry point (as a network message, as a chain
//! transaction, or as a mutation of a valid message). Nothing may panic, and a rejected input
//! must leave the enclave unchanged.
#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use pose_sim::harness::Solo;

thread_local! {
    static SOLO: RefCell<Option<Solo>> = const { RefCell::new(None) };
}

fuzz_target!(|data: &[u8]| {
    SOLO.with(|s| {
        let mut s = s.borrow_mut();
        let solo = s.get_or_insert_with(|| Solo::new(1));
        solo.fuzz(data);
    });
});
