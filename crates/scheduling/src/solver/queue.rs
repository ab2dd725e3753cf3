//! The pod queue (upstream `queue.go`): pods ordered by CPU then memory, descending (then
//! creation and UID), or by one of the default strategy's other orders; a pod that fits nowhere
//! goes to the back, and the pass ends when a full cycle places nothing.
use super::*;

#[derive(Clone, Copy, PartialEq)]
pub(super) enum PodOrder {
    CpuMem,
    Dominant,
    /// Largest first, alternating CPU-heavy and memory-heavy pods so that the running total
    /// keeps a target memory:CPU ratio (bytes per millicore; `None` = the batch's own), so
    /// claims fill with a balanced mix.
    /// The flag sorts memory-heavy pods mildest first (leaving the most memory-heavy pods for
    /// the last claims, which then suit memory-optimised types).
    Interleave(Option<f64>, bool),
}

impl<'a> Ctx<'a> {
    /// One packing: the run's final state and the pods left pending.
    pub(super) fn pack(
        &self,
        pod_order: PodOrder,
        claim_order: ClaimOrder,
        efficient: bool,
    ) -> (Run<'_, 'a>, Vec<PendingPod>) {
        let p = self.p;
        let mut run = self.new_run(claim_order, efficient);
        let mut pending: Vec<PendingPod> = Vec::new();
        let mut queue: Vec<usize> = Vec::new();
        for (i, pd) in self.pods.iter().enumerate() {
            match pd {
                Ok(_) => queue.push(i),
                Err(reason) => pending.push(PendingPod {
                    pod: i,
                    reason: reason.clone(),
                }),
            }
        }
        // cpu, memory as a share of the largest type, for the dominant order
        let (max_cpu, max_mem) = p.instance_types.iter().fold((1i64, 1i64), |(c, m), it| {
            (
                c.max(it.allocatable.cpu_millis),
                m.max(it.allocatable.memory_bytes),
            )
        });
        let req = |i: usize| &p.pods[i].requests;
        match pod_order {
            PodOrder::CpuMem => queue.sort_by(|&a, &b| {
                req(b)
                    .cpu_millis
                    .cmp(&req(a).cpu_millis)
                    .then_with(|| req(b).memory_bytes.cmp(&req(a).memory_bytes))
                    .then_with(|| p.pods[a].creation_index.cmp(&p.pods[b].creation_index))
                    .then_with(|| p.pods[a].uid.cmp(&p.pods[b].uid))
            }),
            PodOrder::Dominant => {
                let dom = |i: usize| {
                    let r = req(i);
                    (r.cpu_millis as f64 / max_cpu as f64)
                        .max(r.memory_bytes as f64 / max_mem as f64)
                };
                queue.sort_by(|&a, &b| {
                    dom(b)
                        .total_cmp(&dom(a))
                        .then_with(|| p.pods[a].creation_index.cmp(&p.pods[b].creation_index))
                        .then_with(|| p.pods[a].uid.cmp(&p.pods[b].uid))
                })
            }
            PodOrder::Interleave(target, mild_first) => {
                let (tc, tm) = queue.iter().fold((0f64, 0f64), |(c, m), &i| {
                    (c + req(i).cpu_millis as f64, m + req(i).memory_bytes as f64)
                });
                let ratio = target.unwrap_or(if tc > 0.0 { tm / tc } else { 0.0 });
                let size = |i: usize| {
                    req(i).cpu_millis as f64 * ratio.max(1.0) + req(i).memory_bytes as f64
                };
                let (mut heavy_cpu, mut heavy_mem): (Vec<usize>, Vec<usize>) =
                    queue.iter().partition(|&&i| {
                        (req(i).memory_bytes as f64) < ratio * req(i).cpu_millis as f64
                    });
                let by_size = |a: &usize, b: &usize| {
                    size(*b)
                        .total_cmp(&size(*a))
                        .then_with(|| p.pods[*a].creation_index.cmp(&p.pods[*b].creation_index))
                };
                heavy_cpu.sort_by(by_size);
                if mild_first {
                    let r =
                        |i: usize| req(i).memory_bytes as f64 / (req(i).cpu_millis.max(1)) as f64;
                    heavy_mem.sort_by(|a, b| r(*a).total_cmp(&r(*b)).then_with(|| by_size(a, b)));
                } else {
                    heavy_mem.sort_by(by_size);
                }
                let (mut ci, mut mi) = (0, 0);
                let (mut c, mut m) = (0f64, 0f64);
                let mut out = Vec::with_capacity(queue.len());
                while ci < heavy_cpu.len() || mi < heavy_mem.len() {
                    // take memory-heavy pods while the running total is CPU-heavy
                    let take_mem = ci >= heavy_cpu.len() || (mi < heavy_mem.len() && m < ratio * c);
                    let i = if take_mem {
                        mi += 1;
                        heavy_mem[mi - 1]
                    } else {
                        ci += 1;
                        heavy_cpu[ci - 1]
                    };
                    c += req(i).cpu_millis as f64;
                    m += req(i).memory_bytes as f64;
                    out.push(i);
                }
                queue = out;
            }
        }
        let mut queue: VecDeque<usize> = queue.into();
        // per pod: queue length when it last failed (usize::MAX = never), and why
        let mut last_len: Vec<usize> = vec![usize::MAX; self.pods.len()];
        let mut last_err: Vec<Option<String>> = vec![None; self.pods.len()];
        while let Some(&i) = queue.front() {
            if last_len[i] == queue.len() {
                break;
            }
            queue.pop_front();
            let Ok(base) = &self.pods[i] else { continue };
            if let Err(e) = run.place_free(i, base) {
                last_err[i] = Some(e);
                queue.push_back(i);
                last_len[i] = queue.len();
            }
        }
        for i in queue {
            pending.push(PendingPod {
                pod: i,
                reason: last_err[i].take().unwrap_or_default(),
            });
        }
        pending.sort_by_key(|pp| pp.pod);
        (run, pending)
    }
}
