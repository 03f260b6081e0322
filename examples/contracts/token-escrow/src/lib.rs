//! A token with escrow: users move their internal balance (coins deposited through the manager
//! contract) to each other, lock it in escrows that an arbiter settles, and withdraw it to
//! their on-chain address.
//!
//! Its methods (typed; `pose interface` prints them from the `.wasm` file) are below. The
//! encoding is the SDK's: a call's or query's input is its selector byte and its arguments,
//! integers little-endian; for example `transfer` is `1 to:address amount:u128`.

#![no_std]
#![deny(unsafe_code)]

extern crate alloc;

use pose_contract_sdk::{contract, ensure, env, fail, value_struct, Address, Error, Item, Map};

/// The internal account that holds escrowed coins.
const ESCROW: Address = Address(*b"token-escrow-account");

const NEXT_ID: Item<u64> = Item::new(b"next_id");
const ESCROWS: Map<u64, Escrow> = Map::new(b"escrow/");

value_struct! {
    /// An escrow, as stored and as `escrow` returns it.
    pub struct Escrow {
        /// Who locked the coins.
        pub payer: Address,
        /// Who receives them on release.
        pub payee: Address,
        /// Who may release or refund besides the payer or payee.
        pub arbiter: Address,
        /// The coins locked (wei).
        pub amount: u128,
        /// False once released or refunded.
        pub open: bool,
    }
}

contract! {
    /// Moves `amount` of the caller's balance to `to`.
    call(1) fn transfer(to: Address, amount: u128) -> Result<(), Error> {
        env::transfer(&env::caller(), &to, amount)
    }

    /// Withdraws `amount` of the caller's balance to the caller's address (a payout).
    call(2) fn withdraw(amount: u128) -> Result<(), Error> {
        let who = env::caller();
        env::payout(&who, &who, amount)
    }

    /// Locks `amount` of the caller's balance in a new escrow for `payee`, settled by the
    /// payer or `arbiter`; returns its id.
    call(3) fn open_escrow(payee: Address, arbiter: Address, amount: u128) -> Result<u64, Error> {
        ensure!(amount > 0, "an escrow must hold a positive amount");
        let payer = env::caller();
        env::transfer(&payer, &ESCROW, amount)?;
        let id = NEXT_ID.get_or(0);
        NEXT_ID.set(&(id + 1));
        ESCROWS.set(
            &id,
            &Escrow {
                payer,
                payee,
                arbiter,
                amount,
                open: true,
            },
        );
        let mut ev = b"escrow-opened".to_vec();
        ev.extend_from_slice(&id.to_le_bytes());
        env::emit(&ev);
        Ok(id)
    }

    /// Releases escrow `id` to its payee (by the payer or the arbiter).
    call(4) fn release(id: u64) -> Result<(), Error> {
        settle(id, true)
    }

    /// Refunds escrow `id` to its payer (by the payee or the arbiter).
    call(5) fn refund(id: u64) -> Result<(), Error> {
        settle(id, false)
    }

    /// The internal balance of `who` (wei).
    query(1) fn balance(who: Address) -> Result<u128, Error> {
        Ok(env::balance_of(&who))
    }

    /// Escrow `id`.
    query(2) fn escrow(id: u64) -> Result<Escrow, Error> {
        match ESCROWS.get(&id) {
            Some(e) => Ok(e),
            None => fail!("no escrow {id}"),
        }
    }
}

fn settle(id: u64, release: bool) -> Result<(), Error> {
    let Some(mut e) = ESCROWS.get(&id) else {
        fail!("no escrow {id}")
    };
    ensure!(e.open, "escrow {id} is already settled");
    let who = env::caller();
    let (allowed, to) = if release {
        (who == e.payer || who == e.arbiter, e.payee)
    } else {
        (who == e.payee || who == e.arbiter, e.payer)
    };
    ensure!(allowed, "the caller may not settle escrow {id} this way");
    env::transfer(&ESCROW, &to, e.amount)?;
    e.open = false;
    ESCROWS.set(&id, &e);
    let mut ev = if release {
        b"escrow-released".to_vec()
    } else {
        b"escrow-refunded".to_vec()
    };
    ev.extend_from_slice(&id.to_le_bytes());
    env::emit(&ev);
    Ok(())
}
