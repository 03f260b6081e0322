//! A token with escrow: users move their internal balance (coins deposited through the manager
//! contract) to each other, lock it in escrows that an arbiter settles, and withdraw it to
//! their on-chain address.
//!
//! Input of `call` (first byte selects the operation, integers little-endian):
//! - `1 to:address amount:u128`: transfer from the caller to `to`.
//! - `2 amount:u128`: withdraw from the caller's balance to the caller's address (a payout).
//! - `3 payee:address arbiter:address amount:u128`: lock `amount` of the caller's balance in a
//!   new escrow; returns its `id:u64`.
//! - `4 id:u64`: release escrow `id` to the payee (by the payer or the arbiter).
//! - `5 id:u64`: refund escrow `id` to the payer (by the payee or the arbiter).
//!
//! Input of `query`: `1 who:address` for `balance:u128`; `2 id:u64` for
//! `payer:address payee:address arbiter:address amount:u128 open:bool`.

#![no_std]
#![deny(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;

use pose_contract_sdk::{
    ensure, entry_points, env, fail, Address, Error, Item, Map, Reader, Value, Writer,
};

/// The internal account that holds escrowed coins.
const ESCROW: Address = Address(*b"token-escrow-account");

const NEXT_ID: Item<u64> = Item::new(b"next_id");
const ESCROWS: Map<u64, Escrow> = Map::new(b"escrow/");

struct Escrow {
    payer: Address,
    payee: Address,
    arbiter: Address,
    amount: u128,
    open: bool,
}

impl Value for Escrow {
    fn write(&self, out: &mut Vec<u8>) {
        self.payer.write(out);
        self.payee.write(out);
        self.arbiter.write(out);
        self.amount.write(out);
        self.open.write(out);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(Escrow {
            payer: r.read()?,
            payee: r.read()?,
            arbiter: r.read()?,
            amount: r.read()?,
            open: r.read()?,
        })
    }
}

fn open_escrow(payee: Address, arbiter: Address, amount: u128) -> Result<Vec<u8>, Error> {
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
    Ok(id.to_le_bytes().to_vec())
}

fn settle(id: u64, release: bool) -> Result<Vec<u8>, Error> {
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
    Ok(Vec::new())
}

fn call(input: &[u8]) -> Result<Vec<u8>, Error> {
    let mut r = Reader::new(input);
    let op: u8 = r.read()?;
    let out = match op {
        1 => {
            let to: Address = r.read()?;
            let amount: u128 = r.read()?;
            env::transfer(&env::caller(), &to, amount)?;
            Ok(Vec::new())
        }
        2 => {
            let who = env::caller();
            env::payout(&who, &who, r.read()?)?;
            Ok(Vec::new())
        }
        3 => open_escrow(r.read()?, r.read()?, r.read()?),
        4 => settle(r.read()?, true),
        5 => settle(r.read()?, false),
        op => fail!("unknown operation {op}"),
    };
    r.finish()?;
    out
}

fn query(input: &[u8]) -> Result<Vec<u8>, Error> {
    let mut r = Reader::new(input);
    let op: u8 = r.read()?;
    let mut out = Writer::new();
    match op {
        1 => {
            out.put(&env::balance_of(&r.read()?));
        }
        2 => {
            let id: u64 = r.read()?;
            let Some(e) = ESCROWS.get(&id) else {
                fail!("no escrow {id}")
            };
            out.put(&e);
        }
        op => fail!("unknown query {op}"),
    }
    r.finish()?;
    Ok(out.into_vec())
}

entry_points!(call = call, query = query);
