//! A sealed-bid, first-price auction with deposits and payouts.
//!
//! Bids are sealed by the enclave: inputs are encrypted to the contract and the state is
//! private, so nobody sees another bid before the auction closes. A bid must be covered by
//! the bidder's internal balance (coins deposited through the manager contract); it is moved
//! into the auction's escrow account until the auction closes. At close the highest bid (the
//! earliest one among equal bids) goes to the seller and every other bid goes back to its
//! bidder. Anyone withdraws their internal balance with a payout.
//!
//! Input of `init`: `seller:address reserve:u128 end_time:u64` (block time, seconds).
//!
//! Input of `call` (first byte selects the operation, integers little-endian):
//! - `1 amount:u128`: bid (replaces the caller's earlier bid) before `end_time`.
//! - `2`: close the auction, at or after `end_time`; returns `winner:address price:u128`
//!   (the zero address and 0 if no bid reached the reserve).
//! - `3 amount:u128`: withdraw `amount` of the caller's balance to the caller's address.
//!
//! Input of `query`: `1` for `closed:bool bids:u32 winner:address price:u128` (winner and
//! price are zero until closed), `2` for the caller's own bid `amount:u128`.

#![no_std]
#![deny(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;

use pose_contract_sdk::{
    ensure, entry_points, env, fail, Address, Error, Item, Map, Reader, Value, Writer,
};

/// The internal account that holds bids until the auction closes.
const ESCROW: Address = Address(*b"sealed-bid-escrow\0\0\0");
/// Most bidders.
const BIDDERS_MAX: usize = 10_000;

const SELLER: Item<Address> = Item::new(b"seller");
const RESERVE: Item<u128> = Item::new(b"reserve");
const END_TIME: Item<u64> = Item::new(b"end_time");
const CLOSED: Item<bool> = Item::new(b"closed");
const WINNER: Item<Address> = Item::new(b"winner");
const PRICE: Item<u128> = Item::new(b"price");
/// Concatenated 20-byte addresses of bidders, in order of their first bid.
const BIDDERS: Item<Vec<u8>> = Item::new(b"bidders");
const BIDS: Map<Address, u128> = Map::new(b"bid/");

fn bidders() -> Vec<Address> {
    BIDDERS
        .get()
        .unwrap_or_default()
        .chunks_exact(20)
        .map(|c| {
            let mut a = [0u8; 20];
            a.copy_from_slice(c);
            Address(a)
        })
        .collect()
}

fn init(input: &[u8]) -> Result<Vec<u8>, Error> {
    let mut r = Reader::new(input);
    let seller: Address = r.read()?;
    let reserve: u128 = r.read()?;
    let end_time: u64 = r.read()?;
    r.finish()?;
    ensure!(
        end_time > env::block_time(),
        "the auction must end in the future"
    );
    SELLER.set(&seller);
    RESERVE.set(&reserve);
    END_TIME.set(&end_time);
    CLOSED.set(&false);
    Ok(Vec::new())
}

fn bid(amount: u128) -> Result<Vec<u8>, Error> {
    ensure!(!CLOSED.get_or(false), "the auction is closed");
    ensure!(env::block_time() < END_TIME.get_or(0), "bidding has ended");
    ensure!(
        amount >= RESERVE.get_or(0),
        "bid is below the reserve price"
    );
    let who = env::caller();
    match BIDS.get(&who) {
        Some(old) => env::transfer(&ESCROW, &who, old)?,
        None => {
            let mut list = BIDDERS.get().unwrap_or_default();
            ensure!(list.len() / 20 < BIDDERS_MAX, "too many bidders");
            list.extend_from_slice(&who.0);
            BIDDERS.set(&list);
        }
    }
    env::transfer(&who, &ESCROW, amount)?;
    BIDS.set(&who, &amount);
    env::emit(b"bid");
    Ok(Vec::new())
}

fn close() -> Result<Vec<u8>, Error> {
    ensure!(!CLOSED.get_or(false), "the auction is already closed");
    ensure!(
        env::block_time() >= END_TIME.get_or(0),
        "bidding has not ended yet"
    );
    let mut best: Option<(Address, u128)> = None;
    let all = bidders();
    for who in &all {
        let amount = BIDS.get(who).unwrap_or(0);
        if best.is_none_or(|(_, b)| amount > b) {
            best = Some((*who, amount));
        }
    }
    for who in &all {
        let amount = BIDS.get(who).unwrap_or(0);
        let to = match best {
            Some((w, _)) if w == *who => SELLER.get().unwrap_or_default(),
            _ => *who,
        };
        env::transfer(&ESCROW, &to, amount)?;
    }
    let (winner, price) = best.unwrap_or_default();
    CLOSED.set(&true);
    WINNER.set(&winner);
    PRICE.set(&price);
    let mut out = Writer::new();
    out.put(&winner).put(&price);
    let out = out.into_vec();
    let mut ev = b"closed".to_vec();
    ev.extend_from_slice(&out);
    env::emit(&ev);
    Ok(out)
}

fn withdraw(amount: u128) -> Result<Vec<u8>, Error> {
    let who = env::caller();
    env::payout(&who, &who, amount)?;
    Ok(Vec::new())
}

fn call(input: &[u8]) -> Result<Vec<u8>, Error> {
    let mut r = Reader::new(input);
    let op: u8 = r.read()?;
    let out = match op {
        1 => bid(r.read()?),
        2 => close(),
        3 => withdraw(r.read()?),
        op => fail!("unknown operation {op}"),
    };
    r.finish()?;
    out
}

fn query(input: &[u8]) -> Result<Vec<u8>, Error> {
    let op = u8::from_bytes(input)?;
    let mut out = Writer::new();
    match op {
        1 => {
            let closed = CLOSED.get_or(false);
            out.put(&closed).put(&(bidders().len() as u32));
            if closed {
                out.put(&WINNER.get().unwrap_or_default())
                    .put(&PRICE.get_or(0));
            } else {
                out.put(&Address::default()).put(&0u128);
            }
        }
        2 => {
            out.put(&BIDS.get(&env::caller()).unwrap_or(0));
        }
        op => fail!("unknown query {op}"),
    }
    Ok(out.into_vec())
}

entry_points!(init = init, call = call, query = query);
