//! The LP relaxation's uses in the solver (see [`crate::lp`]): the lower bound a
//! [`Solution`] reports, and the cost-efficient instance types (at the LP's shadow prices) the
//! default strategy seeds new claims with. No upstream counterpart: upstream neither bounds its
//! plans nor seeds claims.
use super::*;

impl Ctx<'_> {
    /// The largest of three valid lower bounds on the price of the new NodeClaims: the LP
    /// relaxation (see [`lp`]); the cheapest type that can hold the largest pod (every pod needs
    /// one node that fits it whole); and, per group of pods with required hostname
    /// anti-affinity against each other, the sum over its pods of the cheapest type that fits
    /// each (they need distinct nodes).
    pub(super) fn lower_bound(&self, s: &Solution) -> f64 {
        let placed: Vec<usize> = s
            .node_claims
            .iter()
            .flat_map(|c| c.pods.iter().copied())
            .collect();
        let lp = self
            .dual(placed.iter().copied())
            .map(|(d, _)| d.bound)
            .unwrap_or(0.0);
        let supply = self.supply();
        let mut memo: HashMap<&Resources, f64> = HashMap::new();
        let mut cheapest_fit = |i: usize| -> f64 {
            let req = &self.p.pods[i].requests;
            *memo.entry(req).or_insert_with(|| {
                let mut r = req.clone();
                r.pods = r.pods.max(1);
                supply
                    .iter()
                    .filter(|(a, _)| r.fits(a))
                    .map(|(_, price)| *price)
                    .min_by(f64::total_cmp)
                    .unwrap_or(0.0)
            })
        };
        let mut bound = lp;
        let mut per_group: HashMap<usize, f64> = HashMap::new();
        for &i in &placed {
            let fit = cheapest_fit(i);
            bound = bound.max(fit);
            if let Ok(pd) = &self.pods[i] {
                for &g in &pd.anti {
                    let grp = &self.topo.groups[g];
                    if grp.key == labels::HOSTNAME && pd.selected_by.contains(&g) {
                        *per_group.entry(g).or_insert(0.0) += fit;
                    }
                }
            }
        }
        per_group.values().fold(bound, |b, v| b.max(*v))
    }

    /// Memory:CPU ratios (bytes per millicore, slightly under) of the cost-efficient types, at
    /// most four distinct ones: targets for the interleaved pod order.
    pub(super) fn efficient_ratios(&self) -> Vec<f64> {
        let mut out: Vec<f64> = Vec::new();
        for (ti, eff) in self.efficient.iter().enumerate() {
            for &i in eff {
                let a = &self.type_free[ti][i as usize];
                if a.cpu_millis <= 0 {
                    continue;
                }
                let r = a.memory_bytes as f64 / a.cpu_millis as f64 * 0.99;
                if !out.iter().any(|o| (o / r - 1.0).abs() < 0.05) {
                    out.push(r);
                }
            }
        }
        out.sort_by(f64::total_cmp);
        out.truncate(4);
        out
    }

    /// Per template, the types whose price per unit of worth (at the LP shadow prices for all
    /// pending pods) is within 2% of the template's best.
    pub(super) fn efficient_types(&self) -> Vec<Vec<u32>> {
        let pods = (0..self.p.pods.len()).filter(|&i| self.pods[i].is_ok());
        let Some((dual, names)) = self.dual(pods) else {
            return vec![Vec::new(); self.templates.len()];
        };
        self.templates
            .iter()
            .map(|t| {
                let ratio: Vec<(u32, f64)> = t
                    .types
                    .iter()
                    .filter_map(|&i| {
                        let it = &self.p.instance_types[i as usize];
                        let price = it.cheapest_offering(&t.reqs)?.price;
                        let mut a = it.allocatable.clone();
                        a.sub(&t.overhead[i as usize]);
                        let alloc: Vec<f64> = names.iter().map(|n| a.get(n) as f64).collect();
                        let worth = dual.worth(&alloc);
                        (worth > 0.0).then_some((i, price / worth))
                    })
                    .collect();
                let best = ratio.iter().map(|r| r.1).fold(f64::INFINITY, f64::min);
                ratio
                    .into_iter()
                    .filter(|r| r.1 <= best * 1.02)
                    .map(|r| r.0)
                    .collect()
            })
            .collect()
    }

    /// Every type any template may launch: allocatable minus the smallest DaemonSet overhead
    /// any template charges on it, and its cheapest available offering.
    pub(super) fn supply(&self) -> Vec<(Resources, f64)> {
        let p = self.p;
        let mut min_overhead: Vec<Option<Resources>> = vec![None; p.instance_types.len()];
        for t in &self.templates {
            for &ti in &t.types {
                let ti = ti as usize;
                let o = &t.overhead[ti];
                min_overhead[ti] = Some(match min_overhead[ti].take() {
                    None => o.clone(),
                    Some(mut m) => {
                        m.cpu_millis = m.cpu_millis.min(o.cpu_millis);
                        m.memory_bytes = m.memory_bytes.min(o.memory_bytes);
                        m.pods = m.pods.min(o.pods);
                        m.ephemeral_bytes = m.ephemeral_bytes.min(o.ephemeral_bytes);
                        for (k, x) in m.extended.iter_mut() {
                            *x = (*x).min(o.extended.get(k).copied().unwrap_or(0));
                        }
                        m
                    }
                });
            }
        }
        p.instance_types
            .iter()
            .zip(min_overhead)
            .filter_map(|(it, o)| {
                let o = o?;
                let price = it
                    .offerings
                    .iter()
                    .filter(|o| o.available)
                    .map(|o| o.price)
                    .min_by(f64::total_cmp)?;
                let mut a = it.allocatable.clone();
                a.sub(&o);
                Some((a, price))
            })
            .collect()
    }

    pub(super) fn dual(
        &self,
        pods: impl Iterator<Item = usize>,
    ) -> Option<(lp::Dual, Vec<String>)> {
        let p = self.p;
        let mut demand = Resources::default();
        for i in pods {
            let mut r = p.pods[i].requests.clone();
            if r.pods == 0 {
                r.pods = 1;
            }
            demand.add(&r);
        }
        let mut names: Vec<String> = vec![
            crate::resources::CPU.into(),
            crate::resources::MEMORY.into(),
            crate::resources::PODS.into(),
            crate::resources::EPHEMERAL_STORAGE.into(),
        ];
        names.extend(demand.extended.keys().cloned());
        let d: Vec<f64> = names.iter().map(|n| demand.get(n) as f64).collect();
        let cols: Vec<lp::Column> = self
            .supply()
            .iter()
            .map(|(a, price)| lp::Column {
                alloc: names.iter().map(|n| a.get(n) as f64).collect(),
                price: *price,
            })
            .collect();
        lp::solve_dual(&cols, &d).map(|dual| (dual, names))
    }
}
