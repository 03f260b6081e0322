//! The user SDK: verifies a pool's attestations against the chain, encrypts inputs to a
//! contract, calls, queries, deposits, withdraws and challenges.
