//! The default strategy (no upstream counterpart; `Strategy::Karpenter` is upstream's single
//! packing): several independent packings run on the available cores, the best kept by pending
//! pods, then price, then node count, then one repair pass on the winner ([`super::repair`]).
use super::*;

/// A finished packing of the default strategy, scored by (pending pods, price, nodes).
pub(super) enum Packed<'c, 'a> {
    Run(Box<Run<'c, 'a>>, Vec<PendingPod>, (usize, f64, usize)),
    Done(Solution, (usize, f64, usize)),
}

impl Packed<'_, '_> {
    pub(super) fn score(&self) -> (usize, f64, usize) {
        match self {
            Packed::Run(_, _, s) | Packed::Done(_, s) => *s,
        }
    }

    pub(super) fn finish(self) -> Solution {
        match self {
            Packed::Run(run, pending, _) => run.finish(pending),
            Packed::Done(s, _) => s,
        }
    }
}

/// Whether score `c` (pending pods, price, nodes) beats `b`: fewer pending pods, then a lower
/// price (beyond 1e-9), then, at the same price, fewer nodes.
pub(super) fn better_score(c: (usize, f64, usize), b: (usize, f64, usize)) -> bool {
    match c.0.cmp(&b.0) {
        std::cmp::Ordering::Less => true,
        std::cmp::Ordering::Greater => false,
        std::cmp::Ordering::Equal => c.1 < b.1 - 1e-9 || (c.1 <= b.1 + 1e-9 && c.2 < b.2),
    }
}

impl<'a> Ctx<'a> {
    pub(super) fn run(
        &self,
        pod_order: PodOrder,
        claim_order: ClaimOrder,
        efficient: bool,
    ) -> Solution {
        let (run, pending) = self.pack(pod_order, claim_order, efficient);
        run.finish(pending)
    }

    /// One packing with its score (pending pods, price, nodes); its plan is built only if it
    /// is chosen. The reference path builds it at once and scores the plan itself.
    pub(super) fn packed(
        &self,
        pod_order: PodOrder,
        claim_order: ClaimOrder,
        efficient: bool,
    ) -> Packed<'_, 'a> {
        if self.opts.reference_path {
            let s = self.run(pod_order, claim_order, efficient);
            let score = (s.pending.len(), s.price_per_hour, s.node_claims.len());
            return Packed::Done(s, score);
        }
        let (run, pending) = self.pack(pod_order, claim_order, efficient);
        let score = run.score(pending.len());
        Packed::Run(Box::new(run), pending, score)
    }

    /// The default strategy's answer: upstream's packing and the others, the best of them
    /// (more nodes than upstream's must be ≥ 2% cheaper), improved once.
    pub(super) fn best_of_packings(&self) -> Solution {
        let ctx = self;
        let mut ratios = ctx.efficient_ratios();
        ratios.truncate(2);
        let variants: Vec<(PodOrder, ClaimOrder, bool)> = [
            (PodOrder::CpuMem, ClaimOrder::Emptiest, false),
            (PodOrder::Interleave(None, false), ClaimOrder::Fullest, true),
            (PodOrder::Dominant, ClaimOrder::Fullest, false),
        ]
        .into_iter()
        .chain(ratios.into_iter().map(|r| {
            (
                PodOrder::Interleave(Some(r), true),
                ClaimOrder::Fullest,
                true,
            )
        }))
        .collect();
        // Independent packings: run them on the available cores (each worker takes the
        // next variant; variant 0, upstream's and usually the longest, goes first), score
        // each (pending pods, price, nodes) without building its plan, then finish only
        // the winner.
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, variants.len());
        let mut results: Vec<Option<Packed<'_, '_>>> = Vec::new();
        results.resize_with(variants.len(), || None);
        let next = std::sync::atomic::AtomicUsize::new(0);
        let work = || {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&(po, co, eff)) = variants.get(i) else {
                    break;
                };
                done.push((i, ctx.packed(po, co, eff)));
            }
            done
        };
        std::thread::scope(|scope| {
            // this thread is one of the workers (its allocator heap stays warm)
            let handles: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
            for (i, packed) in work() {
                results[i] = Some(packed);
            }
            for h in handles {
                if let Ok(done) = h.join() {
                    for (i, packed) in done {
                        results[i] = Some(packed);
                    }
                }
            }
        });
        let mut results = results.into_iter().enumerate();
        // variant 0 is upstream's packing: the baseline every other result must beat
        let karpenter = match results.next().and_then(|(_, r)| r) {
            Some(k) => k,
            None => ctx.packed(PodOrder::CpuMem, ClaimOrder::Emptiest, false),
        };
        let (_, base_price, base_nodes) = karpenter.score();
        let mut best = karpenter;
        let mut losers: Vec<Packed<'_, '_>> = Vec::new();
        for (_, cand) in results.filter_map(|(i, r)| r.map(|r| (i, r))) {
            let (c_pending, c_price, c_nodes) = cand.score();
            let (b_pending, b_price, b_nodes) = best.score();
            // more nodes than upstream's packing must pay for themselves: ≥ 2% cheaper
            if c_nodes > base_nodes && c_price > base_price * 0.98 {
                losers.push(cand);
                continue;
            }
            if better_score((c_pending, c_price, c_nodes), (b_pending, b_price, b_nodes)) {
                losers.push(std::mem::replace(&mut best, cand));
            } else {
                losers.push(cand);
            }
        }
        // free the losing packings on the other cores while this one builds the plan
        let best = std::thread::scope(|scope| {
            // one packing per helper: their frees are independent
            let per = 1;
            while !losers.is_empty() {
                let chunk: Vec<Packed<'_, '_>> = losers.drain(..per.min(losers.len())).collect();
                scope.spawn(move || drop(chunk));
            }
            best.finish()
        });
        // one improvement pass on the winner only (see `repair`)
        ctx.improve(best)
    }
}
