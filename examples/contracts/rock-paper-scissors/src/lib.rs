//! Rock-paper-scissors with stakes and hidden moves, for two players per game.
//!
//! Moves are hidden by the enclave: inputs are encrypted to the contract and the state is
//! private, so a move needs no commit-reveal round; the contract reveals both moves only when
//! the game is decided. Each player stakes `stake` wei of internal balance (coins deposited
//! through the manager contract) when joining; the winner takes both stakes, a draw returns
//! them. If one player moved and the other does not move within `move_timeout_secs`, the
//! player who moved claims both stakes. The next game starts right after.
//!
//! Its methods (typed; `pose interface` prints them from the `.wasm` file) are below, in the
//! SDK's encoding: `init` takes `stake:u128 move_timeout_secs:u64`; a call's or query's input
//! is its selector byte and its arguments, integers little-endian. A result is 0 for a draw,
//! 1 if the first player won, 2 if the second player won.

#![no_std]
#![deny(unsafe_code)]

extern crate alloc;

use pose_contract_sdk::{contract, ensure, env, fail, value_struct, Address, Error, Item};

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

fn join_open_game() -> Result<(), Error> {
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
    env::transfer(&who, &POT, stake)
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

fn finish_game(result: u8, a: &Address, b: &Address) -> Result<Outcome, Error> {
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
    Ok(Outcome { game, result })
}

fn record_move(mv: u8) -> Result<Option<Outcome>, Error> {
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
        (Some(ma), Some(mb)) => finish_game(decide(ma, mb), &a, &b).map(Some),
        _ => {
            FIRST_MOVE_TIME.set(&env::block_time());
            Ok(None)
        }
    }
}

fn claim_after_timeout() -> Result<Outcome, Error> {
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

fn leave_alone() -> Result<(), Error> {
    let who = env::caller();
    ensure!(
        PLAYER_A.get() == Some(who) && PLAYER_B.get().is_none(),
        "only a player waiting alone may leave"
    );
    env::transfer(&POT, &who, STAKE.get_or(0))?;
    PLAYER_A.remove();
    Ok(())
}

value_struct! {
    /// How a game ended.
    pub struct Outcome {
        /// The game's number.
        pub game: u64,
        /// 0 draw, 1 first player won, 2 second player won.
        pub result: u8,
    }
}

value_struct! {
    /// The running game, without any move.
    pub struct Status {
        /// The running game's number.
        pub game: u64,
        /// Players who joined it (0 to 2).
        pub players: u8,
        /// True once the first player moved.
        pub first_moved: bool,
        /// True once the second player moved.
        pub second_moved: bool,
        /// The result of the previous game (255 before the first one ended).
        pub last_result: u8,
    }
}

contract! {
    /// Sets each player's stake (wei) and how long a player has to answer the first move.
    init fn init(stake: u128, move_timeout_secs: u64) -> Result<(), Error> {
        ensure!(move_timeout_secs > 0, "the move timeout must be positive");
        STAKE.set(&stake);
        TIMEOUT.set(&move_timeout_secs);
        GAME.set(&0);
        Ok(())
    }

    /// Joins the open game, staking `stake` of the caller's balance.
    call(1) fn join() -> Result<(), Error> {
        join_open_game()
    }

    /// Plays `mv` (0 rock, 1 paper, 2 scissors); when both have played, returns how the game
    /// ended.
    call(2) fn play(mv: u8) -> Result<Option<Outcome>, Error> {
        record_move(mv)
    }

    /// Claims both stakes after the opponent did not move in time.
    call(3) fn claim_timeout() -> Result<Outcome, Error> {
        claim_after_timeout()
    }

    /// Leaves a game nobody else joined yet; the stake comes back.
    call(4) fn leave() -> Result<(), Error> {
        leave_alone()
    }

    /// Withdraws `amount` of the caller's balance to the caller's address (a payout).
    call(5) fn withdraw(amount: u128) -> Result<(), Error> {
        let who = env::caller();
        env::payout(&who, &who, amount)
    }

    /// The running game (never a move).
    query(1) fn status() -> Result<Status, Error> {
        let players = u8::from(PLAYER_A.get().is_some()) + u8::from(PLAYER_B.get().is_some());
        Ok(Status {
            game: GAME.get_or(0),
            players,
            first_moved: MOVE_A.get().is_some(),
            second_moved: MOVE_B.get().is_some(),
            last_result: LAST_RESULT.get_or(u8::MAX),
        })
    }
}
