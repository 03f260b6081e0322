//! Decodes arbitrary bytes as every off-chain message (`pose_types::wire`). Decoding must never
//! panic, and whatever decodes must re-encode to exactly the input (canonical encoding).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pose_types::wire::{Ack, Deploy, Message, Reply, Request, SealedInput, Update};
use pose_types::{Decode, Encode};

fn check<T: Decode + Encode>(data: &[u8]) {
    if let Ok(v) = T::from_bytes(data) {
        assert_eq!(v.to_bytes(), data, "a decoded value re-encodes differently");
    }
}

fuzz_target!(|data: &[u8]| {
    // Through the envelope: version byte, kind byte, fields.
    check::<Message>(data);
    // Every message body on its own, so the fuzzer need not find the kind byte first.
    check::<Request>(data);
    check::<Reply>(data);
    check::<Update>(data);
    check::<Ack>(data);
    check::<Deploy>(data);
    // The plaintext of a request's sealed body.
    check::<SealedInput>(data);
});
