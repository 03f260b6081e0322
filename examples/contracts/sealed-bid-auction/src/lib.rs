//! A sealed-bid, first-price auction with deposits and payouts.
//!
//! Bids are sealed by the enclave: inputs are encrypted to the contract and the state is
//! private, so nobody sees another bid before the auction closes. A bid must be covered by
//! the bidder's internal balance (coins deposited through the manager contract); it is moved
//! into the auction's escrow account until the auction closes. At close the highest bid (the
//! earliest one among equal bids) goes to the seller and every other bid goes back to its
//! bidder. Anyone withdraws their internal balance with a payout.
//!
//! Its methods (typed; `pose interface` prints them from the `.wasm` file) are below, in the
//! SDK's encoding: `init` takes `seller:address reserve:u128 end_time:u64` (block time,
//! seconds); a call's or query's input is its selector byte and its arguments, integers
//! little-endian.

#![no_std]
#![deny(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;

use pose_contract_sdk::{contract, ensure, env, value_struct, Address, Error, Item, Map};

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

value_struct! {
    /// The outcome of the auction.
    pub struct Outcome {
        /// The highest bidder (the zero address if no bid reached the reserve).
        pub winner: Address,
        /// What the winner paid the seller (0 without a winner).
        pub price: u128,
    }
}

value_struct! {
    /// What anyone may know about the auction: no amounts or leader before the close.
    pub struct Status {
        /// True once closed.
        pub closed: bool,
        /// The number of bidders.
        pub bids: u32,
        /// The winner (zero until closed).
        pub winner: Address,
        /// The price (zero until closed).
        pub price: u128,
    }
}

contract! {
    /// Starts an auction for `seller` with a reserve price, ending at block time `end_time`
    /// (seconds).
    init fn init(seller: Address, reserve: u128, end_time: u64) -> Result<(), Error> {
        ensure!(
            end_time > env::block_time(),
            "the auction must end in the future"
        );
        SELLER.set(&seller);
        RESERVE.set(&reserve);
        END_TIME.set(&end_time);
        CLOSED.set(&false);
        Ok(())
    }

    /// Bids `amount` of the caller's balance (replacing the caller's earlier bid, which comes
    /// back) before the end time.
    call(1) fn bid(amount: u128) -> Result<(), Error> {
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
        Ok(())
    }

    /// Closes the auction at or after the end time: the highest bid (the earliest among equal
    /// ones) goes to the seller, every other bid back to its bidder.
    call(2) fn close() -> Result<Outcome, Error> {
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
        let out = Outcome { winner, price };
        let mut ev = b"closed".to_vec();
        pose_contract_sdk::Value::write(&out, &mut ev);
        env::emit(&ev);
        Ok(out)
    }

    /// Withdraws `amount` of the caller's balance to the caller's address (a payout).
    call(3) fn withdraw(amount: u128) -> Result<(), Error> {
        let who = env::caller();
        env::payout(&who, &who, amount)
    }

    /// The auction's status.
    query(1) fn status() -> Result<Status, Error> {
        let closed = CLOSED.get_or(false);
        let bids = bidders().len() as u32;
        Ok(if closed {
            Status {
                closed,
                bids,
                winner: WINNER.get().unwrap_or_default(),
                price: PRICE.get_or(0),
            }
        } else {
            Status {
                closed,
                bids,
                winner: Address::default(),
                price: 0,
            }
        })
    }

    /// The caller's own bid (0 without one).
    query(2) fn my_bid() -> Result<u128, Error> {
        Ok(BIDS.get(&env::caller()).unwrap_or(0))
    }
}
