//! Rock-paper-scissors with stakes and hidden moves, for two players per game.
//!
//! Moves are hidden by the enclave: inputs are encrypted to the contract and the state is
//! private, so a move needs no commit-reveal round; the contract reveals both moves only when
//! the game is decided. Each player stakes `stake` wei of internal balance (coins deposited
//! through the manager contract) when joining; the winner takes both stakes, a draw returns
//! them. If one player moved and the other does not move within `move_timeout_secs`, the
//! player who moved claims both stakes. The next game starts right after.
//!
//! Input of `init`: `stake:u128 move_timeout_secs:u64`.
//!
//! Input of `call` (first byte selects the operation, integers little-endian):
//! - `1`: join the open game, staking `stake`.
//! - `2 move:u8` (0 rock, 1 paper, 2 scissors): play; when both have played returns
//!   `game:u64 result:u8` (0 draw, 1 first player won, 2 second player won).
//! - `3`: claim both stakes after the opponent timed out.
//! - `4`: leave a game nobody else joined yet (the stake comes back).
//! - `5 amount:u128`: withdraw internal balance to the caller's address (a payout).
//!
//! Input of `query`: `1` for `game:u64 players:u8 first_moved:bool second_moved:bool
//! last_result:u8` (never a move).

#![no_std]
#![deny(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;

use pose_contract_sdk::{
    ensure, entry_points, env, fail, Address, Error, Item, Reader, Value, Writer,
};

/// The internal account that holds the stakes of the running game.
const POT: Address = Address(*b"rock-paper-scissors!");

const STAKE: Item<u128> = Item::new(b"stake");
const TIMEOUT: Item<u64> = Item::new(b"timeout");
const GAME: Item<u64> = Item::new(b"game");
const PLAYER_A: Item<Address> = Item::new(b"player/a");
const PLAYER_B: Item<Address> = Item::new(b"player/b");
const MOVE_A: Item<u8> = Item::new(b"move/a");
const MOVE_B: Item<u8> = Item::new(b"move/b");
const FIRST_MOVE_TIME: Item<u64> = Item::new(b"first_move_time");
const LAST_RESULT: Item<u8> = Item::new(b"last_result");

fn init(input: &[u8]) -> Result<Vec<u8>, Error> {
    let mut r = Reader::new(input);
    let stake: u128 = r.read()?;
    let timeout: u64 = r.read()?;
    r.finish()?;
    ensure!(timeout > 0, "the move timeout must be positive");
    STAKE.set(&stake);
    TIMEOUT.set(&timeout);
    GAME.set(&0);
    Ok(Vec::new())
}

fn join() -> Result<Vec<u8>, Error> {
    let who = env::caller();
    let stake = STAKE.get_or(0);
    match (PLAYER_A.get(), PLAYER_B.get()) {
        (None, _) => PLAYER_A.set(&who),
        (Some(a), None) => {
            ensure!(a != who, "already joined this game");
            PLAYER_B.set(&who);
        }
        _ => fail!("the game is full; wait for the next one"),
    }
    env::transfer(&who, &POT, stake)?;
    Ok(Vec::new())
}

/// 0 draw, 1 `a` wins, 2 `b` wins.
fn decide(a: u8, b: u8) -> u8 {
    if a == b {
        0
    } else if (a + 1) % 3 == b {
        2
    } else {
        1
    }
}

fn finish_game(result: u8, a: &Address, b: &Address) -> Result<Vec<u8>, Error> {
    let stake = STAKE.get_or(0);
    match result {
        0 => {
            env::transfer(&POT, a, stake)?;
            env::transfer(&POT, b, stake)?;
        }
        1 => env::transfer(&POT, a, 2 * stake)?,
        _ => env::transfer(&POT, b, 2 * stake)?,
    }
    let game = GAME.get_or(0);
    let mut out = Writer::new();
    out.put(&game).put(&result);
    let mut ev = b"game".to_vec();
    ev.extend_from_slice(&game.to_le_bytes());
    ev.push(result);
    ev.push(MOVE_A.get().unwrap_or(u8::MAX));
    ev.push(MOVE_B.get().unwrap_or(u8::MAX));
    env::emit(&ev);
    for k in [PLAYER_A, PLAYER_B] {
        k.remove();
    }
    for k in [MOVE_A, MOVE_B] {
        k.remove();
    }
    FIRST_MOVE_TIME.remove();
    LAST_RESULT.set(&result);
    GAME.set(&(game + 1));
    Ok(out.into_vec())
}

fn play(mv: u8) -> Result<Vec<u8>, Error> {
    ensure!(mv < 3, "a move is 0 (rock), 1 (paper) or 2 (scissors)");
    let who = env::caller();
    let (Some(a), Some(b)) = (PLAYER_A.get(), PLAYER_B.get()) else {
        fail!("the game needs two players first")
    };
    let slot = if who == a {
        MOVE_A
    } else if who == b {
        MOVE_B
    } else {
        fail!("the caller does not play this game")
    };
    ensure!(slot.get().is_none(), "already moved in this game");
    slot.set(&mv);
    match (MOVE_A.get(), MOVE_B.get()) {
        (Some(ma), Some(mb)) => finish_game(decide(ma, mb), &a, &b),
        _ => {
            FIRST_MOVE_TIME.set(&env::block_time());
            Ok(Vec::new())
        }
    }
}

fn claim_timeout() -> Result<Vec<u8>, Error> {
    let (Some(a), Some(b)) = (PLAYER_A.get(), PLAYER_B.get()) else {
        fail!("no running game")
    };
    let Some(t) = FIRST_MOVE_TIME.get() else {
        fail!("nobody has moved yet")
    };
    ensure!(
        env::block_time() >= t.saturating_add(TIMEOUT.get_or(0)),
        "the opponent still has time to move"
    );
    let result = if MOVE_A.get().is_some() { 1 } else { 2 };
    finish_game(result, &a, &b)
}

fn leave() -> Result<Vec<u8>, Error> {
    let who = env::caller();
    ensure!(
        PLAYER_A.get() == Some(who) && PLAYER_B.get().is_none(),
        "only a player waiting alone may leave"
    );
    env::transfer(&POT, &who, STAKE.get_or(0))?;
    PLAYER_A.remove();
    Ok(Vec::new())
}

fn call(input: &[u8]) -> Result<Vec<u8>, Error> {
    let mut r = Reader::new(input);
    let op: u8 = r.read()?;
    let out = match op {
        1 => join(),
        2 => play(r.read()?),
        3 => claim_timeout(),
        4 => leave(),
        5 => {
            let who = env::caller();
            env::payout(&who, &who, r.read()?)?;
            Ok(Vec::new())
        }
        op => fail!("unknown operation {op}"),
    };
    r.finish()?;
    out
}

fn query(input: &[u8]) -> Result<Vec<u8>, Error> {
    ensure!(u8::from_bytes(input)? == 1, "unknown query");
    let players = u8::from(PLAYER_A.get().is_some()) + u8::from(PLAYER_B.get().is_some());
    let mut out = Writer::new();
    out.put(&GAME.get_or(0))
        .put(&players)
        .put(&MOVE_A.get().is_some())
        .put(&MOVE_B.get().is_some())
        .put(&LAST_RESULT.get_or(u8::MAX));
    Ok(out.into_vec())
}

entry_points!(init = init, call = call, query = query);
