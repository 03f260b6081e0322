//! Model-based property: after any sequence of seals over a few slots, a blob opens exactly
//! when it is the latest of its slot, and then gives back what was sealed.

use pose_crypto::SigningKey;
use pose_tee::*;
use proptest::collection::vec;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_blob_opens_iff_it_is_the_latest_of_its_slot(
        ops in vec((0usize..3, vec(any::<u8>(), 0..16)), 1..24),
        restart_at in any::<prop::sample::Index>(),
    ) {
        let slots = ["a", "b", "c"];
        let platform = SoftwarePlatform::new(
            [7; 32],
            Vendor::new(SigningKey::from_bytes(&[1; 32]).unwrap()),
        );
        let mut tee = SoftwareTee::create(
            platform.clone(),
            b"program",
            Randomness::Seeded([3; 32]),
            ManualClock::new(0),
        );
        let restart = restart_at.index(ops.len());
        // Every blob ever sealed: (slot, data, blob).
        let mut blobs: Vec<(usize, Vec<u8>, Vec<u8>)> = Vec::new();
        for (i, (slot, data)) in ops.into_iter().enumerate() {
            if i == restart {
                // A restart of the same program on the same platform keeps the counters.
                tee = SoftwareTee::create(
                    platform.clone(),
                    b"program",
                    Randomness::Seeded([4; 32]),
                    ManualClock::new(0),
                );
            }
            let blob = tee.seal(slots[slot], &data).unwrap();
            blobs.push((slot, data, blob));
        }
        for (i, (slot, data, blob)) in blobs.iter().enumerate() {
            let latest = blobs.iter().rposition(|(s, _, _)| s == slot) == Some(i);
            let opened = tee.unseal(slots[*slot], blob);
            if latest {
                prop_assert_eq!(opened, Ok(data.clone()));
            } else {
                let rolled_back = matches!(opened, Err(TeeError::SealedRolledBack { .. }));
                prop_assert!(rolled_back, "an older blob of slot {} opened", slots[*slot]);
            }
        }
    }
}
