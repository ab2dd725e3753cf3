//! Sets of instance types as bitsets (one bit per index into `Problem::instance_types`), so
//! narrowing a claim's types is a few word operations. No upstream counterpart: upstream keeps
//! a NodeClaim's `InstanceTypeOptions` as a slice (`nodeclaim.go`).
/// A set of instance-type indices, one bit per type (`Problem::instance_types` order), so
/// iterating it yields ascending indices: a template's order, since templates list their
/// types ascending. Narrowing a claim's types is then a few word operations.
pub(super) type TypeSet = Vec<u64>;

pub(super) fn set_words(n_types: usize) -> usize {
    n_types.div_ceil(64).max(1)
}

pub(super) fn set_of(types: &[u32], words: usize) -> TypeSet {
    let mut s = vec![0u64; words];
    for &i in types {
        s[i as usize >> 6] |= 1 << (i & 63);
    }
    s
}

pub(super) fn set_has(s: &[u64], i: u32) -> bool {
    (s[i as usize >> 6] >> (i & 63)) & 1 == 1
}

pub(super) fn and_with(s: &mut [u64], other: &[u64]) {
    for (a, b) in s.iter_mut().zip(other) {
        *a &= b;
    }
}

pub(super) fn set_len(s: &[u64]) -> usize {
    s.iter().map(|w| w.count_ones() as usize).sum()
}

pub(super) fn set_iter(s: &[u64]) -> impl Iterator<Item = u32> + '_ {
    s.iter().enumerate().flat_map(|(wi, &w)| {
        let mut w = w;
        std::iter::from_fn(move || {
            (w != 0).then(|| {
                let b = w.trailing_zeros();
                w &= w - 1;
                (wi as u32) << 6 | b
            })
        })
    })
}

/// Keeps only the members for which `keep` holds.
pub(super) fn set_retain(s: &mut [u64], mut keep: impl FnMut(u32) -> bool) {
    for (wi, word) in s.iter_mut().enumerate() {
        let mut w = *word;
        while w != 0 {
            let b = w.trailing_zeros();
            w &= w - 1;
            if !keep((wi as u32) << 6 | b) {
                *word &= !(1u64 << b);
            }
        }
    }
}
