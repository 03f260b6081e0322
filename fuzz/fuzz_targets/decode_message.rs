//! Decodes arbitrary bytes as every message kind. Decoding must never panic, and whatever
//! decodes must re-encode to exactly the input (canonical encoding).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pose_types::{
    Ack, Acceptance, CreationOffer, Decode, Encode, Message, Query, QueryReply, Rejection, Reply,
    Request, SignedEnvelope, StateTransfer, StateUpdate, SyncRequest,
};

fn check<T: Decode + Encode>(data: &[u8]) {
    if let Ok(v) = T::from_bytes(data) {
        assert_eq!(v.to_bytes(), data, "a decoded value re-encodes differently");
    }
}

fuzz_target!(|data: &[u8]| {
    // Through the envelope: version byte, kind byte, fields.
    if let Ok(m) = Message::from_bytes(data) {
        assert_eq!(m.to_bytes(), data, "a decoded message re-encodes differently");
        if let Message::Signed(env) = &m {
            if let Ok(inner) = env.message() {
                assert_eq!(inner.to_bytes(), env.payload.as_slice());
            }
        }
    }
    // Every message body on its own, so the fuzzer need not find the kind byte first.
    check::<Request>(data);
    check::<Query>(data);
    check::<QueryReply>(data);
    check::<StateUpdate>(data);
    check::<Ack>(data);
    check::<Reply>(data);
    check::<Rejection>(data);
    check::<CreationOffer>(data);
    check::<Acceptance>(data);
    check::<StateTransfer>(data);
    check::<SyncRequest>(data);
    check::<SignedEnvelope>(data);
});
