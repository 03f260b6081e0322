//! The bytes of a state update follow what a call changed, not what the contract holds.
//!
//! A pool of three serves the bank contract, whose every call adds a storage entry and a
//! request record, so its state grows with its history. The bytes of the executor's `next`
//! update for one call are measured at several ages of the contract and must stay flat; the
//! table (`--nocapture`) is the one BENCHMARKS.md quotes.

use pose_sim::pool::PoolBench;

#[test]
fn update_bytes_do_not_depend_on_the_state_size() {
    let mut pool = PoolBench::new(3, 1);
    let checkpoints = [10usize, 100, 1_000, 3_000];
    let mut rows = Vec::new();
    let mut done = 0usize;
    for &n in &checkpoints {
        while done + 1 < n {
            pool.call(b"payload-of-a-call");
            done += 1;
        }
        let cost = pool.call(b"payload-of-a-call");
        done += 1;
        assert!(cost.update_bytes > 0, "call {n} sent no update: {cost:?}");
        rows.push((n, cost));
    }
    assert!(
        pool.committed_seq() as usize >= done,
        "every call was committed"
    );
    println!(
        "| calls so far | state entries | update bytes (one call) | sealed bytes (one call) |"
    );
    println!("|---:|---:|---:|---:|");
    for (n, c) in &rows {
        println!(
            "| {n} | {} | {} | {} |",
            c.state_entries, c.update_bytes, c.sealed_bytes
        );
    }
    let first = rows[0].1;
    let last = rows[rows.len() - 1].1;
    assert!(
        last.state_entries > 100 * first.state_entries / 10,
        "the state grew: {first:?} -> {last:?}"
    );
    assert!(
        last.update_bytes * 10 <= first.update_bytes * 12,
        "update bytes grew with the state: {first:?} -> {last:?}"
    );
}

#[test]
fn a_view_keeps_only_the_chain_transactions_its_state_has_not_folded() {
    let mut pool = PoolBench::new(3, 2);
    for _ in 0..400 {
        pool.deposit();
    }
    pool.call(b"after-many-deposits");
    let (kept, seen) = pool.chain_log();
    assert!(seen > 400, "the deposits reached the pool: {seen}");
    let bound = 2 * pose_enclave::limits::CHAIN_LOG_KEPT_FOLDED as usize;
    assert!(
        kept <= bound,
        "kept {kept} of {seen} chain transactions, bound {bound}"
    );
}
