//! A trivial contract engine for the simulator (so the simulator needs no Wasm runtime): a
//! counter and a bank. Inputs are `op || nonce(8) || args`:
//!
//! - `A nonce marker`: counts the call and stores `marker` (private data) for the caller.
//! - `T nonce to(20) amount(16)`: moves coins to another user inside the contract.
//! - `W nonce amount(16)`: pays `amount` out to the caller (a payout).
//! - `Z nonce`: terminates the contract.
//! - `Q`: (query) returns the call counter.
//!
//! Every executed `(caller, nonce)` is counted under `x/<caller>/<nonce>`; the simulator checks
//! the count never exceeds one (exactly once).

use pose_runtime::{
    CallEnv, CallOutcome, ContractEngine, ContractState, Entry, Payout, RuntimeError, StateChanges,
};
use pose_types::{Address, Hash32};
use sha2::{Digest, Sha256};

/// The code bytes of the bank contract.
pub const BANK_CODE: &[u8] = b"pose-sim bank contract v1";

/// sha256 of [`BANK_CODE`].
pub fn bank_code_hash() -> Hash32 {
    Hash32(Sha256::digest(BANK_CODE).into())
}

/// The bank engine.
#[derive(Default, Debug)]
pub struct BankEngine;

/// Storage key of the execution count of `(caller, nonce)`.
pub fn exec_key(caller: &Address, nonce: u64) -> Vec<u8> {
    let mut k = b"x/".to_vec();
    k.extend_from_slice(&caller.0);
    k.extend_from_slice(&nonce.to_be_bytes());
    k
}

/// What a call changed, as the engine reports it: every key whose value differs, with its old
/// value. (The bank's states are tiny; a real engine tracks its writes instead.)
fn changes_between(old: &ContractState, new: &ContractState) -> StateChanges {
    let mut c = StateChanges::default();
    let keys: std::collections::BTreeSet<&Vec<u8>> =
        old.storage.keys().chain(new.storage.keys()).collect();
    for k in keys {
        let (o, n) = (old.storage.get(k), new.storage.get(k));
        if o != n {
            c.storage.push((k.clone(), o.cloned()));
        }
    }
    let addrs: std::collections::BTreeSet<&Address> =
        old.balances.keys().chain(new.balances.keys()).collect();
    for a in addrs {
        let (o, n) = (old.balances.get(a), new.balances.get(a));
        if o != n {
            c.balances.push((*a, o.copied().unwrap_or(0)));
        }
    }
    c
}

impl ContractEngine for BankEngine {
    fn load(&mut self, code: &[u8]) -> Result<Hash32, RuntimeError> {
        if code == BANK_CODE {
            Ok(bank_code_hash())
        } else {
            Err(RuntimeError::InvalidModule("not the bank contract".into()))
        }
    }

    fn execute(
        &mut self,
        code_hash: &Hash32,
        entry: Entry,
        state: &mut ContractState,
        env: &CallEnv,
        input: &[u8],
    ) -> Result<CallOutcome, RuntimeError> {
        if *code_hash != bank_code_hash() {
            return Err(RuntimeError::UnknownCode(*code_hash));
        }
        let count = |s: &ContractState| -> u64 {
            s.storage
                .get(b"count".as_slice())
                .and_then(|v| v.as_slice().try_into().ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0)
        };
        match entry {
            Entry::Init => {
                state
                    .storage
                    .insert(b"count".to_vec(), 0u64.to_be_bytes().to_vec());
                Ok(CallOutcome::default())
            }
            Entry::Query => Ok(CallOutcome {
                output: count(state).to_be_bytes().to_vec(),
                ..CallOutcome::default()
            }),
            Entry::Call => {
                if input.len() < 9 {
                    return Err(RuntimeError::Trap("short input".into()));
                }
                let op = input[0];
                let nonce = u64::from_be_bytes(input[1..9].try_into().unwrap_or([0; 8]));
                let args = &input[9..];
                let mut next = state.clone();
                let mut out = CallOutcome::default();
                match op {
                    b'A' => {
                        let c = count(&next) + 1;
                        next.storage
                            .insert(b"count".to_vec(), c.to_be_bytes().to_vec());
                        let mut k = b"m/".to_vec();
                        k.extend_from_slice(&env.caller.0);
                        next.storage.insert(k, args.to_vec());
                        let mut o = args.to_vec();
                        o.extend_from_slice(&c.to_be_bytes());
                        out.output = o;
                    }
                    b'T' => {
                        if args.len() != 36 {
                            return Err(RuntimeError::Trap("bad transfer".into()));
                        }
                        let mut to = [0u8; 20];
                        to.copy_from_slice(&args[..20]);
                        let amount =
                            u128::from_be_bytes(args[20..36].try_into().unwrap_or([0; 16]));
                        let from = next.balances.entry(env.caller).or_insert(0);
                        if *from < amount {
                            return Err(RuntimeError::InsufficientBalance("transfer".into()));
                        }
                        *from -= amount;
                        *next.balances.entry(Address(to)).or_insert(0) += amount;
                        out.output = b"ok".to_vec();
                    }
                    b'W' => {
                        if args.len() != 16 {
                            return Err(RuntimeError::Trap("bad withdraw".into()));
                        }
                        let amount = u128::from_be_bytes(args.try_into().unwrap_or([0; 16]));
                        let from = next.balances.entry(env.caller).or_insert(0);
                        if *from < amount {
                            return Err(RuntimeError::InsufficientBalance("withdraw".into()));
                        }
                        *from -= amount;
                        out.payouts.push(Payout {
                            to: env.caller,
                            amount_wei: amount,
                        });
                        out.output = b"paid".to_vec();
                    }
                    b'Z' => {
                        out.terminate = true;
                        out.output = b"bye".to_vec();
                    }
                    _ => return Err(RuntimeError::Trap("unknown op".into())),
                }
                let k = exec_key(&env.caller, nonce);
                let n = next
                    .storage
                    .get(&k)
                    .and_then(|v| v.as_slice().try_into().ok())
                    .map(u64::from_be_bytes)
                    .unwrap_or(0);
                next.storage.insert(k, (n + 1).to_be_bytes().to_vec());
                next.balances.retain(|_, b| *b != 0);
                out.changes = changes_between(state, &next);
                *state = next;
                Ok(out)
            }
        }
    }
}
