//! The federated-learning aggregation kernel: a weighted average of model updates.
//!
//! The same code runs inside the `federated-learning` contract (compiled to WebAssembly) and in
//! the native benchmark of `pose-runtime`, so the two measure the same algorithm.
//!
//! The average is computed chunk by chunk over the parameters: for each chunk of
//! [`CHUNK_PARAMS`] parameters, every participant's slice of that chunk is added into an
//! accumulator that stays in the CPU cache. Every update is therefore read from memory exactly
//! once, and a source may copy each chunk into a small buffer (the contract streams updates out
//! of its storage that way) without a second pass over memory. The order of additions is fixed
//! (participant 0 first), so the result is bit-for-bit the same everywhere.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// Parameters per chunk: 16 KiB of `f32`, small enough for the L1 cache together with the
/// accumulator slice.
pub const CHUNK_PARAMS: usize = 4096;

/// Where the updates come from.
pub trait Updates {
    /// Number of participants.
    fn count(&self) -> usize;
    /// Weight of participant `i` (for example its number of training samples).
    fn weight(&self, i: usize) -> f32;
    /// Parameters `offset .. offset + len` of participant `i`'s update, or `None` if that
    /// update is shorter.
    fn chunk(&mut self, i: usize, offset: usize, len: usize) -> Option<&[f32]>;
}

/// Why an aggregation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggregateError {
    /// There is no update to average.
    NoUpdates,
    /// The weights are not finite and positive, or their sum is not.
    BadWeights,
    /// Participant `0`'s update has fewer parameters than the model.
    ShortUpdate(usize),
}

/// `acc[j] += weight * update[j]` for every `j` (over the shorter of the two).
#[inline]
pub fn accumulate(acc: &mut [f32], update: &[f32], weight: f32) {
    for (a, u) in acc.iter_mut().zip(update) {
        *a += weight * *u;
    }
}

/// `v[j] *= factor` for every `j`.
#[inline]
pub fn scale(v: &mut [f32], factor: f32) {
    for x in v.iter_mut() {
        *x *= factor;
    }
}

/// Writes the weighted average of all updates into `out` (whose length is the model size):
/// `out[j] = sum_i(w_i * u_i[j]) / sum_i(w_i)`.
pub fn weighted_average<U: Updates>(
    updates: &mut U,
    out: &mut [f32],
) -> Result<(), AggregateError> {
    let n = updates.count();
    if n == 0 {
        return Err(AggregateError::NoUpdates);
    }
    let mut total = 0.0f32;
    for i in 0..n {
        let w = updates.weight(i);
        if !(w.is_finite() && w > 0.0) {
            return Err(AggregateError::BadWeights);
        }
        total += w;
    }
    if !total.is_finite() {
        return Err(AggregateError::BadWeights);
    }
    let inv_total = 1.0 / total;
    let m = out.len();
    let mut offset = 0;
    while offset < m {
        let len = CHUNK_PARAMS.min(m - offset);
        let acc = &mut out[offset..offset + len];
        acc.fill(0.0);
        for i in 0..n {
            let w = updates.weight(i);
            let chunk = updates
                .chunk(i, offset, len)
                .ok_or(AggregateError::ShortUpdate(i))?;
            if chunk.len() < len {
                return Err(AggregateError::ShortUpdate(i));
            }
            accumulate(acc, chunk, w);
        }
        scale(acc, inv_total);
        offset += len;
    }
    Ok(())
}

/// Updates held in memory as slices (the native benchmark, tests).
pub struct SliceUpdates<'a> {
    /// One update per participant.
    pub updates: &'a [&'a [f32]],
    /// One weight per participant.
    pub weights: &'a [f32],
}

impl Updates for SliceUpdates<'_> {
    fn count(&self) -> usize {
        self.updates.len().min(self.weights.len())
    }
    fn weight(&self, i: usize) -> f32 {
        self.weights[i]
    }
    fn chunk(&mut self, i: usize, offset: usize, len: usize) -> Option<&[f32]> {
        self.updates[i].get(offset..offset + len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_matches_the_formula() {
        let m = CHUNK_PARAMS * 2 + 3;
        let mut u0 = [0f32; CHUNK_PARAMS * 2 + 3];
        let mut u1 = [0f32; CHUNK_PARAMS * 2 + 3];
        for j in 0..m {
            u0[j] = j as f32;
            u1[j] = 1.0;
        }
        let mut out = [0f32; CHUNK_PARAMS * 2 + 3];
        let ups: [&[f32]; 2] = [&u0, &u1];
        let mut src = SliceUpdates {
            updates: &ups,
            weights: &[1.0, 3.0],
        };
        weighted_average(&mut src, &mut out).unwrap();
        for j in 0..m {
            let want = (j as f32 * 1.0 + 3.0) * (1.0 / 4.0);
            assert_eq!(out[j], want, "parameter {j}");
        }
    }

    #[test]
    fn refuses_bad_input() {
        let u = [1.0f32; 4];
        let short = [1.0f32; 2];
        let mut out = [0f32; 4];
        let none: [&[f32]; 0] = [];
        let mut src = SliceUpdates {
            updates: &none,
            weights: &[],
        };
        assert_eq!(
            weighted_average(&mut src, &mut out),
            Err(AggregateError::NoUpdates)
        );
        let ups: [&[f32]; 1] = [&u];
        let mut src = SliceUpdates {
            updates: &ups,
            weights: &[0.0],
        };
        assert_eq!(
            weighted_average(&mut src, &mut out),
            Err(AggregateError::BadWeights)
        );
        let ups: [&[f32]; 2] = [&u, &short];
        let mut src = SliceUpdates {
            updates: &ups,
            weights: &[1.0, 1.0],
        };
        assert_eq!(
            weighted_average(&mut src, &mut out),
            Err(AggregateError::ShortUpdate(1))
        );
    }
}
