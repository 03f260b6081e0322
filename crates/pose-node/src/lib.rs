//! The operator daemon: hosts an enclave through the TEE trait, relays opaque bytes between
//! the network, the chain and the enclave, persists sealed blobs, fires timers.
