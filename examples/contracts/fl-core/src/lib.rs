//! The federated-learning aggregation kernel: a weighted average of model updates.
//!
//! The same code runs inside the `federated-learning` contract (compiled to WebAssembly) and in
//! the native benchmark of `pose-runtime`, so the two compute the same model bit for bit.
//!
//! The average is computed chunk by chunk over the parameters: for each chunk of
//! [`CHUNK_PARAMS`] parameters, every participant's slice of that chunk is added into an
//! accumulator that stays in the CPU cache, so every update is read from memory exactly once.
//! How the weighted slices are added is up to the source of the updates ([`Updates`]): updates
//! held in memory ([`SliceUpdates`]) are added [`GROUP`] at a time in one pass over the
//! accumulator; the contract has the runtime compute the weighted sum straight out of its
//! storage. The arithmetic is the same in both: `acc[j] = acc[j] + w_i * u_i[j]`, product
//! rounded before the sum (no FMA), participant 0 first, then one multiplication by the
//! inverse total weight, so the result is bit-for-bit the same everywhere.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// Parameters per chunk: 32 KiB of `f32`. The accumulator slice and [`GROUP`] update slices
/// (160 KiB) stay in the L2 cache.
pub const CHUNK_PARAMS: usize = 8192;

/// Updates [`SliceUpdates`] adds in one pass over the accumulator: each accumulator element is
/// loaded and stored once per group instead of once per update. The additions still happen in
/// participant order, so the result equals the one-update-at-a-time sum bit for bit.
pub const GROUP: usize = 4;

/// Where the updates come from.
pub trait Updates {
    /// Number of participants.
    fn count(&self) -> usize;
    /// Weight of participant `i` (for example its number of training samples).
    fn weight(&self, i: usize) -> f32;
    /// For every `j`, with `w_i = weight(i)`:
    /// `acc[j] = (((acc[j] + w_0 * u_0[offset + j]) + w_1 * u_1[offset + j]) + ...) * scale`,
    /// over every participant in increasing order, each product rounded to `f32` before its
    /// addition: exactly [`accumulate`] once per participant, then [`scale`]. Fails with
    /// [`AggregateError::ShortUpdate`] if an update has fewer than `offset + acc.len()`
    /// parameters; `acc` is then unspecified.
    fn add_weighted_scaled(
        &mut self,
        offset: usize,
        acc: &mut [f32],
        scale: f32,
    ) -> Result<(), AggregateError>;
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

/// Four [`accumulate`] calls fused into one pass, with the same result:
/// `acc[j] = (((acc[j] + w0*u0[j]) + w1*u1[j]) + w2*u2[j]) + w3*u3[j]`.
#[inline]
pub fn accumulate4(acc: &mut [f32], u: [&[f32]; 4], w: [f32; 4]) {
    let n = acc
        .len()
        .min(u[0].len())
        .min(u[1].len())
        .min(u[2].len())
        .min(u[3].len());
    let (acc, u0, u1, u2, u3) = (
        &mut acc[..n],
        &u[0][..n],
        &u[1][..n],
        &u[2][..n],
        &u[3][..n],
    );
    for j in 0..n {
        let mut v = acc[j];
        v += w[0] * u0[j];
        v += w[1] * u1[j];
        v += w[2] * u2[j];
        v += w[3] * u3[j];
        acc[j] = v;
    }
}

/// `v[j] *= factor` for every `j`.
#[inline]
pub fn scale(v: &mut [f32], factor: f32) {
    for x in v.iter_mut() {
        *x *= factor;
    }
}

/// `1 / sum_i(w_i)`, after checking that there is an update and that every weight and the
/// sum are finite and positive.
pub fn inverse_total_weight<U: Updates>(updates: &U) -> Result<f32, AggregateError> {
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
    Ok(1.0 / total)
}

/// Writes parameters `offset .. offset + acc.len()` of the weighted average into `acc`:
/// `acc[j] = sum_i(w_i * u_i[offset + j]) * inv_total`, summed in participant order from 0.
/// `acc` should be at most [`CHUNK_PARAMS`] long so that it stays in the cache.
pub fn average_chunk<U: Updates>(
    updates: &mut U,
    offset: usize,
    acc: &mut [f32],
    inv_total: f32,
) -> Result<(), AggregateError> {
    acc.fill(0.0);
    updates.add_weighted_scaled(offset, acc, inv_total)
}

/// Writes the weighted average of all updates into `out` (whose length is the model size),
/// chunk by chunk with [`average_chunk`]:
/// `out[j] = sum_i(w_i * u_i[j]) * (1 / sum_i(w_i))`, summed in participant order.
pub fn weighted_average<U: Updates>(
    updates: &mut U,
    out: &mut [f32],
) -> Result<(), AggregateError> {
    let inv_total = inverse_total_weight(updates)?;
    for (k, acc) in out.chunks_mut(CHUNK_PARAMS).enumerate() {
        average_chunk(updates, k * CHUNK_PARAMS, acc, inv_total)?;
    }
    Ok(())
}

/// Updates held in memory as slices (the native benchmark, tests): no copies.
pub struct SliceUpdates<'a> {
    /// One update per participant.
    pub updates: &'a [&'a [f32]],
    /// One weight per participant.
    pub weights: &'a [f32],
}

impl<'a> SliceUpdates<'a> {
    /// Updates `updates` with weights `weights` (one per update).
    pub fn new(updates: &'a [&'a [f32]], weights: &'a [f32]) -> Self {
        SliceUpdates { updates, weights }
    }

    /// Parameters `offset .. offset + len` of participant `i`'s update.
    fn part(&self, i: usize, offset: usize, len: usize) -> Result<&'a [f32], AggregateError> {
        offset
            .checked_add(len)
            .and_then(|end| self.updates[i].get(offset..end))
            .ok_or(AggregateError::ShortUpdate(i))
    }
}

impl Updates for SliceUpdates<'_> {
    fn count(&self) -> usize {
        self.updates.len().min(self.weights.len())
    }
    fn weight(&self, i: usize) -> f32 {
        self.weights[i]
    }
    fn add_weighted_scaled(
        &mut self,
        offset: usize,
        acc: &mut [f32],
        factor: f32,
    ) -> Result<(), AggregateError> {
        let (len, n) = (acc.len(), self.count());
        let mut i = 0;
        while i < n {
            let group = GROUP.min(n - i);
            if group == GROUP {
                let u = [
                    self.part(i, offset, len)?,
                    self.part(i + 1, offset, len)?,
                    self.part(i + 2, offset, len)?,
                    self.part(i + 3, offset, len)?,
                ];
                let w = [
                    self.weights[i],
                    self.weights[i + 1],
                    self.weights[i + 2],
                    self.weights[i + 3],
                ];
                accumulate4(acc, u, w);
            } else {
                for k in i..i + group {
                    accumulate(acc, self.part(k, offset, len)?, self.weights[k]);
                }
            }
            i += group;
        }
        scale(acc, factor);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_matches_the_formula() {
        let mut u0 = [0f32; CHUNK_PARAMS * 2 + 3];
        let mut u1 = [0f32; CHUNK_PARAMS * 2 + 3];
        for (j, (a, b)) in u0.iter_mut().zip(u1.iter_mut()).enumerate() {
            *a = j as f32;
            *b = 1.0;
        }
        let mut out = [0f32; CHUNK_PARAMS * 2 + 3];
        let ups: [&[f32]; 2] = [&u0, &u1];
        let mut src = SliceUpdates::new(&ups, &[1.0, 3.0]);
        weighted_average(&mut src, &mut out).unwrap();
        for (j, got) in out.iter().enumerate() {
            let want = (j as f32 * 1.0 + 3.0) * (1.0 / 4.0);
            assert_eq!(*got, want, "parameter {j}");
        }
    }

    #[test]
    fn grouped_sum_equals_the_sequential_sum_bit_for_bit() {
        const M: usize = 1000;
        let mut ups = [[0f32; M]; 7];
        for (p, u) in ups.iter_mut().enumerate() {
            for (j, x) in u.iter_mut().enumerate() {
                *x = ((j * 7919 + p * 104_729) % 1013) as f32 / 37.0 - 13.0;
            }
        }
        let weights = [0.3f32, 1.7, 2.9, 0.1, 5.5, 1.0, 3.3];
        let refs: [&[f32]; 7] = [
            &ups[0], &ups[1], &ups[2], &ups[3], &ups[4], &ups[5], &ups[6],
        ];
        let mut out = [0f32; M];
        weighted_average(&mut SliceUpdates::new(&refs, &weights), &mut out).unwrap();
        let total: f32 = weights.iter().sum();
        let mut want = [0f32; M];
        for (u, w) in refs.iter().zip(weights) {
            accumulate(&mut want, u, w);
        }
        scale(&mut want, 1.0 / total);
        assert_eq!(out.map(f32::to_bits), want.map(f32::to_bits));
    }

    /// Adds one update at a time: the definition the grouped loops must match.
    struct OneByOne<'a>(SliceUpdates<'a>);

    impl Updates for OneByOne<'_> {
        fn count(&self) -> usize {
            self.0.count()
        }
        fn weight(&self, i: usize) -> f32 {
            self.0.weight(i)
        }
        fn add_weighted_scaled(
            &mut self,
            offset: usize,
            acc: &mut [f32],
            factor: f32,
        ) -> Result<(), AggregateError> {
            for i in 0..self.count() {
                accumulate(acc, self.0.part(i, offset, acc.len())?, self.0.weights[i]);
            }
            scale(acc, factor);
            Ok(())
        }
    }

    #[test]
    fn one_update_at_a_time_equals_the_grouped_sum_bit_for_bit() {
        const M: usize = CHUNK_PARAMS + 77;
        let mut ups = [[0f32; M]; 6];
        for (p, u) in ups.iter_mut().enumerate() {
            for (j, x) in u.iter_mut().enumerate() {
                *x = ((j * 104_729 + p * 7919) % 2003) as f32 / 91.0 - 11.0;
            }
        }
        let weights = [2.5f32, 0.7, 1.9, 3.1, 0.2, 4.4];
        let refs: [&[f32]; 6] = [&ups[0], &ups[1], &ups[2], &ups[3], &ups[4], &ups[5]];
        let mut grouped = [0f32; M];
        weighted_average(&mut SliceUpdates::new(&refs, &weights), &mut grouped).unwrap();
        let mut one_by_one = [0f32; M];
        let mut src = OneByOne(SliceUpdates::new(&refs, &weights));
        weighted_average(&mut src, &mut one_by_one).unwrap();
        assert_eq!(grouped.map(f32::to_bits), one_by_one.map(f32::to_bits));
    }

    #[test]
    fn refuses_bad_input() {
        let u = [1.0f32; 4];
        let short = [1.0f32; 2];
        let mut out = [0f32; 4];
        let none: [&[f32]; 0] = [];
        let mut src = SliceUpdates::new(&none, &[]);
        assert_eq!(
            weighted_average(&mut src, &mut out),
            Err(AggregateError::NoUpdates)
        );
        let ups: [&[f32]; 1] = [&u];
        let mut src = SliceUpdates::new(&ups, &[0.0]);
        assert_eq!(
            weighted_average(&mut src, &mut out),
            Err(AggregateError::BadWeights)
        );
        let ups: [&[f32]; 2] = [&u, &short];
        let mut src = SliceUpdates::new(&ups, &[1.0, 1.0]);
        assert_eq!(
            weighted_average(&mut src, &mut out),
            Err(AggregateError::ShortUpdate(1))
        );
    }
}
