//! Decodes arbitrary bytes with every decoder of the enclave: its wire messages, the chain
//! transactions a host hands in, the manager's ABI calldata, the replicated state and the
//! contract secrets it seals, and the state diffs of updates. Nothing may panic. The enclave's
//! own encodings are canonical, so whatever decodes must re-encode to exactly the input; ABI
//! calldata is decoded as leniently as the manager decodes it, so there the check is that the
//! decoded call re-encodes to calldata that decodes to the same call.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pose_enclave::wire::Message;
use pose_enclave::{AppState, ChainTx, ManagerCall, Secrets, StateDiff};
use pose_types::ContractId;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::decode(data) {
        assert_eq!(m.encode(), data, "a decoded message re-encodes differently");
    }
    if let Ok(tx) = ChainTx::decode(data) {
        assert_eq!(
            tx.encode(),
            data,
            "a decoded chain transaction re-encodes differently"
        );
    }
    if let Ok(call) = ManagerCall::decode(data) {
        let again = ManagerCall::decode(&call.encode()).expect("re-encoded calldata decodes");
        assert_eq!(again, call, "calldata does not round-trip");
    }
    if let Ok(s) = AppState::decode(data) {
        assert_eq!(s.encode(), data, "a decoded state re-encodes differently");
    }
    if let Ok(d) = StateDiff::decode(data) {
        assert_eq!(
            d.encode(),
            data,
            "a decoded state diff re-encodes differently"
        );
    }
    if let Ok(s) = Secrets::decode(data, ContractId(1)) {
        assert_eq!(
            s.encode(ContractId(1)),
            data,
            "decoded secrets re-encode differently"
        );
    }
});
