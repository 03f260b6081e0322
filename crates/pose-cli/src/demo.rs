//! `pose demo`: a guided run through the parts of pose that work today, each step printed
//! with what it shows. It grows as the system does; today it covers the trust foundation.

use anyhow::{bail, Context};
use clap::Args;
use pose_crypto::onchain::Domain;
use pose_crypto::{OsRng, SigningKey};
use pose_node::enclave_core::PROGRAM_IDENTITY;
use pose_tee::{
    measurement_of, verify_vendor_attestation, Randomness, SoftwarePlatform, SoftwareTee,
    SystemClock, Tee, Vendor,
};
use pose_types::Address;

/// Options of `pose demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// How many operator enclaves to start.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=32))]
    pub enclaves: u8,
}

/// Runs the walk-through; returns an error that says which step failed and why.
pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let domain = Domain {
        chain_id: 31337,
        manager: Address([0x5f; 20]),
    };
    let vendor = Vendor::new(SigningKey::random(&mut OsRng));
    let measurement = measurement_of(PROGRAM_IDENTITY);
    println!(
        "[1/4] software TEE vendor {} (the manager contract trusts this key)",
        vendor.address()
    );
    println!("      enclave measurement {measurement}");

    let mut enclaves = Vec::new();
    for i in 0..args.enclaves {
        let mut secret = [0u8; 32];
        pose_crypto::RngCore::fill_bytes(&mut OsRng, &mut secret);
        let platform = SoftwarePlatform::new(secret, vendor.clone());
        let tee = SoftwareTee::create(
            platform,
            PROGRAM_IDENTITY,
            Randomness::Os,
            SystemClock::new(),
        );
        let att = tee.attest(&domain).context("attesting an enclave")?;
        verify_vendor_attestation(
            &att,
            &vendor.address(),
            domain.chain_id,
            &domain.manager,
            &[measurement],
        )
        .context("a genuine attestation must verify")?;
        println!(
            "[2/4] operator {i}: enclave {} attested and verified",
            tee.address()
        );
        enclaves.push((tee, att));
    }

    let (first_tee, first_att) = enclaves.first_mut().context("at least one enclave")?;
    let mut foreign = first_att.clone();
    foreign.chain_id = 1;
    match verify_vendor_attestation(
        &foreign,
        &vendor.address(),
        domain.chain_id,
        &domain.manager,
        &[measurement],
    ) {
        Err(e) => println!("[3/4] an attestation altered to name another chain is refused: {e}"),
        Ok(_) => bail!("an altered attestation verified: the trust check is broken"),
    }

    let old = first_tee
        .seal("state", b"contract state, version 1")
        .context("sealing")?;
    let _new = first_tee
        .seal("state", b"contract state, version 2")
        .context("sealing")?;
    match first_tee.unseal("state", &old) {
        Err(e) => println!("[4/4] the operator replays an older sealed state: refused ({e})"),
        Ok(_) => bail!("a rolled-back sealed blob was accepted: rollback protection is broken"),
    }
    println!();
    println!("Foundation demo complete. The chain, runtime and pool arrive in the next steps.");
    Ok(())
}
