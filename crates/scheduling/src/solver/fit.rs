//! Fitting requests into instance types: per NodePool × instance type, the allocatable left
//! after DaemonSet overhead (`scheduler.go: getDaemonOverhead`, `nodeclaim.go:
//! filterInstanceTypesByRequirements`'s `fits`, `pkg/utils/resources: Fits`), as plain quads
//! (cpu, memory, pods, ephemeral storage) and sorted indexes for the fast path.
use super::*;

/// cpu, memory, pods and ephemeral storage of `r` (extended resources are checked in full).
#[inline]
pub(super) fn quad(r: &Resources) -> [i64; 4] {
    [r.cpu_millis, r.memory_bytes, r.pods, r.ephemeral_bytes]
}

/// The resources of a quad (no extended resources): the inverse of [`quad`].
pub(super) fn quad_resources(q: [i64; 4]) -> Resources {
    Resources {
        cpu_millis: q[0],
        memory_bytes: q[1],
        pods: q[2],
        ephemeral_bytes: q[3],
        extended: BTreeMap::new(),
    }
}

/// Component-wise maximum of two quads.
pub(super) fn quad_max(a: [i64; 4], b: [i64; 4]) -> [i64; 4] {
    [
        a[0].max(b[0]),
        a[1].max(b[1]),
        a[2].max(b[2]),
        a[3].max(b[3]),
    ]
}

/// Component-wise minimum of two quads.
pub(super) fn quad_min(a: [i64; 4], b: [i64; 4]) -> [i64; 4] {
    [
        a[0].min(b[0]),
        a[1].min(b[1]),
        a[2].min(b[2]),
        a[3].min(b[3]),
    ]
}

/// `need ≤ room` in every component.
#[inline]
pub(super) fn quad_fits(need: &[i64; 4], room: &[i64; 4]) -> bool {
    need[0] <= room[0] && need[1] <= room[1] && need[2] <= room[2] && need[3] <= room[3]
}

/// Per template, the largest capacity over all its types (limits short-cut).
pub(super) fn template_max_capacity(p: &Problem, templates: &[Template]) -> Vec<Resources> {
    templates
        .iter()
        .map(|t| {
            let mut m = Resources::default();
            for &i in &t.types {
                m.max_with(&p.instance_types[i as usize].capacity);
            }
            m
        })
        .collect()
}

/// Per template and type: allocatable minus the template's DaemonSet overhead.
pub(super) fn free_tables(p: &Problem, templates: &[Template]) -> Vec<Vec<Resources>> {
    let n_types = p.instance_types.len();
    templates
        .iter()
        .map(|t| {
            (0..n_types)
                .map(|i| {
                    let mut a = p.instance_types[i].allocatable.clone();
                    a.sub(&t.overhead[i]);
                    a
                })
                .collect()
        })
        .collect()
}

/// Per template and type, `quad(type_free)` when neither the type's allocatable nor its
/// DaemonSet overhead has extended resources, else `None`.
pub(super) fn free_quads(
    p: &Problem,
    templates: &[Template],
    type_free: &[Vec<Resources>],
) -> Vec<Vec<Option<[i64; 4]>>> {
    type_free
        .iter()
        .enumerate()
        .map(|(ti, frees)| {
            frees
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let plain = p.instance_types[i].allocatable.extended.is_empty()
                        && templates[ti].overhead[i].extended.is_empty();
                    plain.then(|| quad(f))
                })
                .collect()
        })
        .collect()
}

/// Per type, `quad(capacity)` when the capacity has no extended resources.
pub(super) fn capacity_quads(p: &Problem) -> Vec<Option<[i64; 4]>> {
    p.instance_types
        .iter()
        .map(|it| it.capacity.extended.is_empty().then(|| quad(&it.capacity)))
        .collect()
}

impl Ctx<'_> {
    /// Per template, the largest allocatable minus overhead over all its types.
    pub(super) fn max_free_per_template(&self) -> Vec<Resources> {
        self.templates
            .iter()
            .enumerate()
            .map(|(ti, t)| {
                let mut m = Resources::default();
                for &i in &t.types {
                    m.max_with(&self.type_free[ti][i as usize]);
                }
                m
            })
            .collect()
    }

    /// When every type has a capacity quad (fast path): per dimension, (capacity, type)
    /// descending.
    pub(super) fn capacity_desc(&self) -> Option<[Vec<(i64, u32)>; 4]> {
        if !(self.fast && self.cap_quad.iter().all(Option::is_some)) {
            return None;
        }
        let mut lists: [Vec<(i64, u32)>; 4] = Default::default();
        for (d, list) in lists.iter_mut().enumerate() {
            *list = self
                .cap_quad
                .iter()
                .enumerate()
                .filter_map(|(i, q)| q.map(|q| (q[d], i as u32)))
                .collect();
            list.sort_unstable_by(|a, b| b.cmp(a));
        }
        Some(lists)
    }

    /// Per template, its [`FitIndex`] (fast path; `None` for a template with a type without a
    /// free quad).
    pub(super) fn fit_indexes(&self) -> Vec<Option<FitIndex>> {
        if !self.fast {
            return Vec::new();
        }
        self.templates
            .iter()
            .enumerate()
            .map(|(ti, t)| {
                FitIndex::new(
                    &t.types,
                    &self.type_free_quad[ti],
                    self.p.instance_types.len(),
                )
            })
            .collect()
    }
}

/// A template's types ordered by free cpu, memory, pods and storage, with bitsets (over type
/// indices) of every prefix: the types whose free amount in a dimension is below a total are
/// one prefix, found by binary search.
pub(super) struct FitIndex {
    /// words per bitset
    pub(super) words: usize,
    /// per dimension, (free amount, type index), ascending
    pub(super) sorted: [Vec<(i64, u32)>; 4],
    /// per dimension, `words × (types + 1)` words: prefix `k` holds the first `k` types
    pub(super) prefix: [Vec<u64>; 4],
}

impl FitIndex {
    pub(super) fn new(types: &[u32], free: &[Option<[i64; 4]>], n_types: usize) -> Option<Self> {
        let words = n_types.div_ceil(64).max(1);
        let mut sorted: [Vec<(i64, u32)>; 4] = Default::default();
        let mut prefix: [Vec<u64>; 4] = Default::default();
        for d in 0..4 {
            let mut v = Vec::with_capacity(types.len());
            for &i in types {
                v.push((free.get(i as usize).copied().flatten()?[d], i));
            }
            v.sort_unstable();
            let mut pre = vec![0u64; words * (v.len() + 1)];
            for (k, &(_, i)) in v.iter().enumerate() {
                let (prev, next) = pre.split_at_mut((k + 1) * words);
                next[..words].copy_from_slice(&prev[k * words..]);
                next[i as usize >> 6] |= 1 << (i & 63);
            }
            sorted[d] = v;
            prefix[d] = pre;
        }
        Some(FitIndex {
            words,
            sorted,
            prefix,
        })
    }

    /// Bitset of the types with less free than `total` in some dimension.
    pub(super) fn too_small(&self, total: &[i64; 4]) -> Vec<u64> {
        let mut out = vec![0u64; self.words];
        for ((sorted, prefix), &need) in self.sorted.iter().zip(&self.prefix).zip(total) {
            let k = sorted.partition_point(|&(f, _)| f < need);
            let pre = &prefix[k * self.words..(k + 1) * self.words];
            for (o, p) in out.iter_mut().zip(pre) {
                *o |= p;
            }
        }
        out
    }

    /// Bounds on the component-wise (min, max) free quad over the types in `kept`
    /// (non-empty): exact when a member is found within a few entries of each end of a
    /// dimension's order, else `floor` (a total every kept type fits: no kept type has less)
    /// and `ceil` (a maximum over a superset of `kept`: no kept type has more). Callers only
    /// use these to skip work (the `all_stay` shortcut and headroom pre-checks), which a
    /// lower minimum or a higher maximum makes rarer, never wrong.
    pub(super) fn min_max_within(
        &self,
        kept: &[u64],
        floor: &[i64; 4],
        ceil: &[i64; 4],
        scan_max: bool,
    ) -> ([i64; 4], [i64; 4]) {
        const LOOK: usize = 24;
        let has = |i: u32| (kept[i as usize >> 6] >> (i & 63)) & 1 == 1;
        let (mut lo, mut hi) = (*floor, *ceil);
        for d in 0..4 {
            let sorted = &self.sorted[d];
            let from = sorted.partition_point(|&(f, _)| f < floor[d]);
            if let Some(&(f, _)) = sorted[from..].iter().take(LOOK).find(|&&(_, i)| has(i)) {
                lo[d] = f;
            }
            if !scan_max {
                continue;
            }
            if let Some(&(f, _)) = sorted.iter().rev().take(LOOK).find(|&&(_, i)| has(i)) {
                hi[d] = f.max(0);
            }
        }
        (lo, hi)
    }

    /// Component-wise (min, max) free quad over the types in `kept` (non-empty), reading
    /// each dimension's order from its ends.
    pub(super) fn min_max(&self, kept: &[u64]) -> ([i64; 4], [i64; 4]) {
        let has = |i: u32| (kept[i as usize >> 6] >> (i & 63)) & 1 == 1;
        let (mut lo, mut hi) = ([i64::MAX; 4], [0i64; 4]);
        for d in 0..4 {
            if let Some(&(f, _)) = self.sorted[d].iter().find(|&&(_, i)| has(i)) {
                lo[d] = f;
            }
            if let Some(&(f, _)) = self.sorted[d].iter().rev().find(|&&(_, i)| has(i)) {
                hi[d] = f.max(0);
            }
        }
        (lo, hi)
    }
}

impl Run<'_, '_> {
    /// Component-wise minimum of the types' free quads (`None` off the fast path or when a type
    /// has extended resources).
    pub(super) fn min_free(&self, ti: usize, types: &[u64]) -> Option<[i64; 4]> {
        if !self.ctx.fast {
            return None;
        }
        match self.ctx.fit_index.get(ti) {
            // every template type has a free quad: read the minimum from the index, unless
            // the set is sparse (then folding its members is cheaper)
            Some(Some(fi)) if set_len(types) * 8 >= fi.sorted[0].len() => {
                return Some(fi.min_max(types).0)
            }
            _ => {}
        }
        let fq = &self.ctx.type_free_quad[ti];
        set_iter(types).try_fold([i64::MAX; 4], |m, i| fq[i as usize].map(|f| quad_min(m, f)))
    }

    /// Component-wise maximum of the types' free resources; `n` = `set_len(types)`.
    pub(super) fn max_free(&self, ti: usize, types: &[u64], n: usize) -> Resources {
        // `types` is always a subset of the template's: equal length means all of them
        if self.ctx.fast && n == self.ctx.templates[ti].types.len() {
            return self.ctx.template_max_free[ti].clone();
        }
        if let Some(Some(fi)) = self
            .ctx
            .fit_index
            .get(ti)
            .filter(|fi| matches!(fi, Some(fi) if n * 8 >= fi.sorted[0].len()))
        {
            // every template type has a free quad and the set is dense: read the maximum
            // from the index
            let q = fi.min_max(types).1;
            return quad_resources(q);
        }
        // plain types: the same maximum (from zero) on quads
        if let Some(Some(q)) = self.ctx.fast.then(|| {
            let fq = &self.ctx.type_free_quad[ti];
            set_iter(types).try_fold([0i64; 4], |m, i| fq[i as usize].map(|f| quad_max(m, f)))
        }) {
            return quad_resources(q);
        }
        let mut m = Resources::default();
        for i in set_iter(types) {
            m.max_with(&self.ctx.type_free[ti][i as usize]);
        }
        m
    }
}
