//! How likely a randomly drawn pool is entirely corrupted (SPEC section 8), so that users can
//! choose the pool size for the risk they accept.
//!
//! A pool of `n` enclaves is drawn without replacement from `total` registered enclaves of
//! which `corrupted` are behind corrupted operators. The whole pool is corrupted with the
//! hypergeometric probability `C(corrupted, n) / C(total, n)`, about `f^n` for `f =
//! corrupted / total` when `total` is large.

/// Why a risk question has no answer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RiskError {
    /// The pool is larger than the registry.
    #[error("pool size {pool} is larger than the {total} registered enclaves; register more enclaves or choose a smaller pool")]
    PoolLargerThanRegistry {
        /// Requested pool size.
        pool: u64,
        /// Registered enclaves.
        total: u64,
    },
    /// More corrupted enclaves than registered ones.
    #[error("{corrupted} corrupted enclaves cannot be more than the {total} registered")]
    CorruptedAboveTotal {
        /// Corrupted enclaves.
        corrupted: u64,
        /// Registered enclaves.
        total: u64,
    },
    /// A fraction outside `[0, 1)` or a target outside `(0, 1)`.
    #[error("{0}")]
    OutOfRange(String),
    /// No pool size up to the limit reaches the target.
    #[error("no pool size up to {max} reaches the target; lower the corrupted fraction or raise the target")]
    Unreachable {
        /// The largest pool size tried.
        max: u64,
    },
}

/// Exact probability that all `pool` members drawn from `total` enclaves, `corrupted` of them
/// corrupted, are corrupted.
pub fn all_corrupted_exact(total: u64, corrupted: u64, pool: u64) -> Result<f64, RiskError> {
    if corrupted > total {
        return Err(RiskError::CorruptedAboveTotal { corrupted, total });
    }
    if pool > total {
        return Err(RiskError::PoolLargerThanRegistry { pool, total });
    }
    // prod_{i<pool} (corrupted - i) / (total - i), computed in log space for large pools.
    let mut log_p = 0.0f64;
    for i in 0..pool {
        if i >= corrupted {
            return Ok(0.0);
        }
        log_p += ((corrupted - i) as f64).ln() - ((total - i) as f64).ln();
    }
    Ok(log_p.exp())
}

/// The approximation `f^n` for a large registry with corrupted fraction `f`.
pub fn all_corrupted_approx(fraction: f64, pool: u64) -> Result<f64, RiskError> {
    if !(0.0..1.0).contains(&fraction) {
        return Err(RiskError::OutOfRange(format!(
            "corrupted fraction {fraction} must be at least 0 and below 1"
        )));
    }
    Ok(fraction.powi(pool.min(i32::MAX as u64) as i32))
}

/// The smallest pool size whose all-corrupted probability `f^n` is at most `target`.
pub fn pool_size_for(fraction: f64, target: f64, max_pool: u64) -> Result<u64, RiskError> {
    if !(target > 0.0 && target < 1.0) {
        return Err(RiskError::OutOfRange(format!(
            "target probability {target} must be above 0 and below 1"
        )));
    }
    for n in 1..=max_pool {
        if all_corrupted_approx(fraction, n)? <= target {
            return Ok(n);
        }
    }
    Err(RiskError::Unreachable { max: max_pool })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_example_needs_thirteen_members() {
        // f = 1/3, target 2^-20: 3^-13 = 6.3e-7 <= 9.5e-7 < 3^-12.
        assert_eq!(pool_size_for(1.0 / 3.0, 2f64.powi(-20), 64), Ok(13));
    }

    #[test]
    fn exact_matches_hand_computation_and_approaches_f_to_the_n() {
        // 10 enclaves, 3 corrupted, pool 2: 3/10 * 2/9 = 1/15.
        let p = all_corrupted_exact(10, 3, 2).unwrap();
        assert!((p - 1.0 / 15.0).abs() < 1e-12, "{p}");
        assert_eq!(all_corrupted_exact(10, 3, 4).unwrap(), 0.0);
        let big = all_corrupted_exact(3_000_000, 1_000_000, 5).unwrap();
        assert!((big / (1.0f64 / 3.0).powi(5) - 1.0).abs() < 1e-4, "{big}");
    }

    #[test]
    fn impossible_questions_get_errors_that_say_what_to_change() {
        assert!(matches!(
            all_corrupted_exact(3, 1, 5),
            Err(RiskError::PoolLargerThanRegistry { .. })
        ));
        assert!(all_corrupted_exact(3, 4, 1).is_err());
        assert!(pool_size_for(1.5, 0.01, 10).is_err());
        assert!(pool_size_for(0.9, 1e-30, 10).is_err());
    }
}
