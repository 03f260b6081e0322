//! The POSE protocol as a sans-IO state machine: events in (messages, chain events, timers),
//! actions out (messages, chain transactions, replies, sealed state). No I/O, clocks or OS
//! randomness: time and randomness come in through the TEE trait.
