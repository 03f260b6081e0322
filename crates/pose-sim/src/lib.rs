//! Deterministic simulation of POSE pools with adversarial operators and a model chain; checks
//! the protocol invariants after every step; one seed replays a run.
