//! Bulk numeric kernels behind host functions ("precompiles"): loops a contract could write in
//! WebAssembly, run natively by the host on data it already holds, with results defined bit
//! for bit so that every pool member computes the same bytes.
//!
//! Determinism rules every kernel here follows:
//! - plain IEEE 754 binary32 arithmetic, round to nearest even: every multiplication and
//!   addition is rounded separately (never fused into an FMA), in a fixed order (never
//!   reassociated), exactly as the WebAssembly `f32.mul` and `f32.add` instructions;
//! - every NaN a kernel produces is replaced by [`CANONICAL_NAN_F32_BITS`], the NaN that the
//!   engine's NaN canonicalisation makes WebAssembly float instructions produce;
//! - values are little-endian in memory and in storage, at any alignment.

/// The canonical quiet NaN of `f32` (sign clear, quiet bit set, payload zero): what Cranelift's
/// NaN canonicalisation writes for every NaN result of a float instruction.
pub(crate) const CANONICAL_NAN_F32_BITS: u32 = 0x7fc0_0000;

/// One term of a weighted sum: little-endian `f32`s given as bytes (any alignment), and the
/// weight they are multiplied by.
pub(crate) struct Term<'a> {
    /// The vector, 4 bytes per element.
    pub values: &'a [u8],
    /// Its weight.
    pub weight: f32,
}

/// Terms added in one pass over the accumulator: each accumulator element is loaded and
/// stored once per group, and the group's vectors are read side by side.
const GROUP: usize = 4;

/// For every element `j` of `acc` (little-endian `f32`s as bytes, 4 per element, any
/// alignment):
/// `acc[j] = (((acc[j] + w_0 * v_0[j]) + w_1 * v_1[j]) + ... + w_{k-1} * v_{k-1}[j]) * scale`,
/// the terms in the order given, every product and sum rounded to `f32` on its own (no FMA,
/// no reassociation), and a NaN result stored as [`CANONICAL_NAN_F32_BITS`].
///
/// Every term must hold at least as many elements as `acc`; the caller slices them (a longer
/// term is read only up to `acc`'s length). Canonicalising only the final value gives the same
/// bits as canonicalising after every operation: once an operand is a NaN, every later sum and
/// product is a NaN too. Intermediate sums live in `acc` only during the call.
pub(crate) fn weighted_sum_f32_le<'a>(acc: &mut [u8], terms: &[Term<'a>], scale: f32) {
    let (acc, _) = acc.as_chunks_mut::<4>();
    let n = acc.len();
    let elems = |values: &'a [u8]| -> &'a [[u8; 4]] {
        let (v, _) = values.as_chunks::<4>();
        &v[..n.min(v.len())]
    };
    for group in terms.chunks(GROUP) {
        if let [t0, t1, t2, t3] = group {
            add4(
                acc,
                [
                    elems(t0.values),
                    elems(t1.values),
                    elems(t2.values),
                    elems(t3.values),
                ],
                [t0.weight, t1.weight, t2.weight, t3.weight],
            );
        } else {
            for t in group {
                add1(acc, elems(t.values), t.weight);
            }
        }
    }
    let canonical_nan = f32::from_bits(CANONICAL_NAN_F32_BITS);
    for a in acc.iter_mut() {
        let x = f32::from_le_bytes(*a) * scale;
        let x = if x.is_nan() { canonical_nan } else { x };
        *a = x.to_le_bytes();
    }
}

/// `acc[j] = acc[j] + w * v[j]` over the shorter of the two.
fn add1(acc: &mut [[u8; 4]], v: &[[u8; 4]], w: f32) {
    for (a, x) in acc.iter_mut().zip(v) {
        *a = (f32::from_le_bytes(*a) + w * f32::from_le_bytes(*x)).to_le_bytes();
    }
}

/// Four [`add1`] passes fused into one, with the same result:
/// `acc[j] = (((acc[j] + w0*v0[j]) + w1*v1[j]) + w2*v2[j]) + w3*v3[j]`.
fn add4(acc: &mut [[u8; 4]], v: [&[[u8; 4]]; GROUP], w: [f32; GROUP]) {
    let n = v.iter().fold(acc.len(), |n, v| n.min(v.len()));
    let (acc, v0, v1, v2, v3) = (
        &mut acc[..n],
        &v[0][..n],
        &v[1][..n],
        &v[2][..n],
        &v[3][..n],
    );
    for j in 0..n {
        let mut s = f32::from_le_bytes(acc[j]);
        s += w[0] * f32::from_le_bytes(v0[j]);
        s += w[1] * f32::from_le_bytes(v1[j]);
        s += w[2] * f32::from_le_bytes(v2[j]);
        s += w[3] * f32::from_le_bytes(v3[j]);
        acc[j] = s.to_le_bytes();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn floats(b: &[u8]) -> Vec<u32> {
        b.chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }

    fn sum(acc: &mut [u8], terms: &[(&[u8], f32)], scale: f32) {
        let terms: Vec<Term<'_>> = terms
            .iter()
            .map(|&(values, weight)| Term { values, weight })
            .collect();
        weighted_sum_f32_le(acc, &terms, scale);
    }

    #[test]
    fn adds_the_weighted_terms_then_scales() {
        let mut acc = bytes(&[1.0, 2.0, -3.0, 0.5]);
        let a = bytes(&[4.0, -1.0, 2.0, 0.25]);
        let b = bytes(&[1.0, 1.0, 1.0, 1.0]);
        sum(&mut acc, &[(&a, 0.5), (&b, 2.0)], 0.5);
        assert_eq!(floats(&acc), floats(&bytes(&[2.5, 1.75, 0.0, 1.3125])));
    }

    #[test]
    fn groups_of_four_give_the_one_by_one_sum_bit_for_bit() {
        let vs: Vec<Vec<u8>> = (0..7)
            .map(|t| {
                let v: Vec<f32> = (0..37)
                    .map(|j| ((j * 7919 + t * 104_729) % 1013) as f32 / 37.0 - 13.0)
                    .collect();
                bytes(&v)
            })
            .collect();
        let ws = [0.3f32, 1.7, 2.9, 0.1, 5.5, 1.0, 3.3];
        let terms: Vec<(&[u8], f32)> = vs.iter().map(Vec::as_slice).zip(ws).collect();
        let mut grouped = bytes(&[0.25; 37]);
        sum(&mut grouped, &terms, 0.7);
        let mut one_by_one = bytes(&[0.25; 37]);
        for t in &terms {
            sum(&mut one_by_one, &[*t], 1.0);
        }
        sum(&mut one_by_one, &[], 0.7);
        assert_eq!(floats(&grouped), floats(&one_by_one));
        let want: Vec<u32> = (0..37)
            .map(|j| {
                let mut s = 0.25f32;
                for (v, w) in vs.iter().zip(ws) {
                    s += w * f32::from_le_bytes(v[4 * j..4 * j + 4].try_into().unwrap());
                }
                (s * 0.7).to_bits()
            })
            .collect();
        assert_eq!(floats(&grouped), want);
    }

    #[test]
    fn rounds_the_product_before_adding() {
        // x*x = 1 + 2^-11 + 2^-24 rounds to 1 + 2^-11 in f32; a fused -1 + x*x would keep
        // the 2^-24.
        let x = 1.0 + 2f32.powi(-12);
        let mut acc = bytes(&[-1.0]);
        sum(&mut acc, &[(&bytes(&[x]), x)], 1.0);
        let product = x * x;
        assert_eq!(floats(&acc), floats(&bytes(&[-1.0 + product])));
        assert_ne!(floats(&acc), floats(&bytes(&[x.mul_add(x, -1.0)])));
    }

    #[test]
    fn nan_results_are_canonical() {
        let payload_nan = f32::from_bits(0xffc0_1234);
        let mut acc = bytes(&[f32::INFINITY, 1.0, 0.0, 1.0]);
        let v = bytes(&[f32::NEG_INFINITY, payload_nan, f32::INFINITY, 1.0]);
        sum(&mut acc, &[(&v, 1.0)], 1.0);
        let got = floats(&acc);
        assert_eq!(got[0], CANONICAL_NAN_F32_BITS);
        assert_eq!(got[1], CANONICAL_NAN_F32_BITS);
        assert_eq!(got[2], f32::INFINITY.to_bits());
        assert_eq!(got[3], 2.0f32.to_bits());
        // 0 * inf in the product, and inf * 0 in the scale.
        let mut acc = bytes(&[0.0, f32::INFINITY]);
        sum(&mut acc, &[(&bytes(&[f32::INFINITY, 1.0]), 0.0)], 0.0);
        assert_eq!(floats(&acc), [CANONICAL_NAN_F32_BITS; 2]);
    }

    #[test]
    fn does_not_depend_on_alignment_and_stops_at_the_accumulator() {
        let src = bytes(&[1.0, 2.0, 3.0]);
        let mut aligned = bytes(&[10.0, 20.0]);
        sum(&mut aligned, &[(&src, 2.0)], 1.0);
        let mut buf = vec![0xee; 1];
        buf.extend_from_slice(&bytes(&[10.0, 20.0]));
        buf.push(0xee);
        let mut shifted_src = vec![0x11; 3];
        shifted_src.extend_from_slice(&src);
        sum(&mut buf[1..], &[(&shifted_src[3..], 2.0)], 1.0);
        assert_eq!(&buf[1..9], &aligned[..]);
        assert_eq!((buf[0], buf[9]), (0xee, 0xee), "bytes outside the elements");
        assert_eq!(floats(&aligned), floats(&bytes(&[12.0, 24.0])));
    }
}
