//! Replacement price rules: when a consolidation may launch a replacement, and with which
//! instance types.
//!
//! Upstream: `kubernetes-sigs/karpenter: pkg/controllers/disruption/consolidation.go`
//! (`computeConsolidation` after the simulation found exactly one new NodeClaim, and
//! `computeSpotToSpotConsolidation`), `multinodeconsolidation.go` (`filterOutSameInstanceType`),
//! `pkg/controllers/provisioning/scheduling/nodeclaim.go`
//! (`RemoveInstanceTypeOptionsByPriceAndMinValues`), `pkg/cloudprovider/types.go`
//! (`OrderByPrice`, `Compatible`, `SatisfiesMinValues`, `WorstLaunchPrice`, `OfferingPrice`)
//! and `types.go` in the disruption package (`resolveNodePrice`, `EstimatedSavings`).
//!
//! - The replacement's types are ordered by their cheapest available compatible offering.
//! - All candidates spot and the replacement may be spot: the spot-to-spot path, only behind
//!   the `SpotToSpotConsolidation` gate; the replacement is pinned to spot, keeps only types
//!   whose worst-case spot price is below the candidates' total, and a single-node move needs
//!   at least 15 such types and launches with the 15 cheapest (more if minValues needs them).
//! - Otherwise every type whose worst-case launch price (the most expensive compatible
//!   available offering of the capacity type that would launch: reserved, else spot, else
//!   on-demand) is not strictly below the candidates' total is dropped; minValues must still
//!   hold; a replacement allowed both spot and on-demand is pinned to spot (so a spot shortage
//!   fails the launch instead of launching a dearer on-demand node).
//! - Multi-node moves also drop every type priced at or above the cheapest candidate of a type
//!   that also appears in the replacement's list ("no same-type replacement": deleting would do).
use std::collections::{BTreeMap, BTreeSet};

use karpenter_scheduling::instancetype::{ON_DEMAND, SPOT};
use karpenter_scheduling::labels as l;
use karpenter_scheduling::{InstanceType, Offering, Requirement, Requirements};

/// `MinInstanceTypesForSpotToSpotConsolidation`.
pub const MIN_SPOT_TO_SPOT_TYPES: usize = 15;

/// The reserved capacity type.
pub const RESERVED: &str = "reserved";

/// Whether an offering's zone and capacity type are allowed by `reqs` (well-known keys the
/// requirements leave open are allowed).
pub fn offering_compatible(o: &Offering, reqs: &Requirements) -> bool {
    reqs.allows(l::ZONE, &o.zone) && reqs.allows(l::CAPACITY_TYPE, &o.capacity_type)
}

/// The cheapest available offering of `it` compatible with `reqs`.
pub fn cheapest_offering<'a>(it: &'a InstanceType, reqs: &Requirements) -> Option<&'a Offering> {
    it.offerings
        .iter()
        .filter(|o| o.available && offering_compatible(o, reqs))
        .min_by(|a, b| a.price.total_cmp(&b.price))
}

fn cheapest_price(it: &InstanceType, reqs: &Requirements) -> f64 {
    cheapest_offering(it, reqs).map_or(f64::MAX, |o| o.price)
}

/// `OrderByPrice` (stable, so equal prices keep their order).
pub fn order_by_price(types: &mut [&InstanceType], reqs: &Requirements) {
    types.sort_by(|a, b| cheapest_price(a, reqs).total_cmp(&cheapest_price(b, reqs)));
}

/// `InstanceTypes.Compatible`: the types with an available offering compatible with `reqs`.
pub fn compatible<'a>(types: &[&'a InstanceType], reqs: &Requirements) -> Vec<&'a InstanceType> {
    types
        .iter()
        .copied()
        .filter(|it| cheapest_offering(it, reqs).is_some())
        .collect()
}

/// `WorstLaunchPrice` over the available offerings: the most expensive compatible offering of
/// the capacity type that would launch (reserved, else spot, else on-demand); `f64::MAX` when
/// none is compatible.
pub fn worst_launch_price(it: &InstanceType, reqs: &Requirements) -> f64 {
    for ct in [RESERVED, SPOT, ON_DEMAND] {
        let worst = it
            .offerings
            .iter()
            .filter(|o| o.available && o.capacity_type == ct && offering_compatible(o, reqs))
            .map(|o| o.price)
            .reduce(f64::max);
        if let Some(p) = worst {
            return p;
        }
    }
    f64::MAX
}

/// The values an instance type gives `key` (its offerings for zone and capacity type).
fn type_values(it: &InstanceType, key: &str) -> Vec<String> {
    match key {
        l::ZONE => it.offerings.iter().map(|o| o.zone.clone()).collect(),
        l::CAPACITY_TYPE => it
            .offerings
            .iter()
            .map(|o| o.capacity_type.clone())
            .collect(),
        _ => it.labels.get(key).cloned().into_iter().collect(),
    }
}

/// minValues not met: key → distinct values found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("minValues requirement is not met for {}", .0.iter().map(|(k, n)| format!("{k} ({n} value(s))")).collect::<Vec<_>>().join(", "))]
pub struct MinValuesError(pub BTreeMap<String, usize>);

/// `SatisfiesMinValues`: how many of the (ordered) types are needed to meet every `minValues`,
/// or the keys that stay short with all of them. `Ok(0)` without minValues.
pub fn min_values_needed(
    types: &[&InstanceType],
    reqs: &Requirements,
) -> Result<usize, MinValuesError> {
    let keys: Vec<(&String, usize)> = reqs
        .iter()
        .filter_map(|(k, r)| r.min_values.map(|m| (k, m)))
        .collect();
    if keys.is_empty() {
        return Ok(0);
    }
    let mut seen: BTreeMap<&String, BTreeSet<String>> = BTreeMap::new();
    let mut short = BTreeMap::new();
    for (i, it) in types.iter().enumerate() {
        short.clear();
        for (k, min) in &keys {
            let s = seen.entry(k).or_default();
            s.extend(type_values(it, k));
            if s.len() < *min {
                short.insert(k.to_string(), s.len());
            }
        }
        if short.is_empty() {
            return Ok(i + 1);
        }
    }
    if types.is_empty() {
        for (k, _) in &keys {
            short.insert(k.to_string(), 0);
        }
    }
    Err(MinValuesError(short))
}

/// `RemoveInstanceTypeOptionsByPriceAndMinValues`: keep the types whose worst-case launch price
/// is strictly below `max_price`, then re-check minValues.
pub fn remove_by_price_and_min_values<'a>(
    types: &[&'a InstanceType],
    reqs: &Requirements,
    max_price: f64,
) -> Result<Vec<&'a InstanceType>, MinValuesError> {
    let kept: Vec<&InstanceType> = types
        .iter()
        .copied()
        .filter(|it| worst_launch_price(it, reqs) < max_price)
        .collect();
    min_values_needed(&kept, reqs)?;
    Ok(kept)
}

/// `resolveNodePrice` / `OfferingPrice`: the price of the first offering of the node's type
/// with its zone and capacity type; 0 when none matches.
pub fn node_price(it: &InstanceType, zone: &str, capacity_type: &str) -> f64 {
    it.offerings
        .iter()
        .find(|o| o.zone == zone && o.capacity_type == capacity_type)
        .map_or(0.0, |o| if o.price.is_nan() { 0.0 } else { o.price })
}

/// A node being disrupted, as the price rules see it.
#[derive(Debug, Clone, Copy)]
pub struct PricedCandidate<'a> {
    /// Its instance type (from the catalog).
    pub instance_type: &'a InstanceType,
    /// Its zone label.
    pub zone: &'a str,
    /// Its capacity-type label.
    pub capacity_type: &'a str,
    /// [`node_price`].
    pub price: f64,
}

/// The one NodeClaim a consolidation would launch.
#[derive(Debug, Clone)]
pub struct ReplacementClaim<'a> {
    /// The types it may launch as, in launch order.
    pub types: Vec<&'a InstanceType>,
    /// Its requirements (zone, capacity type and minValues matter here).
    pub requirements: Requirements,
}

impl<'a> ReplacementClaim<'a> {
    /// The cheapest launch: type, offering (upstream's `EstimatedSavings` prices the first
    /// type's cheapest available compatible offering).
    pub fn cheapest(&self) -> Option<(&'a InstanceType, &'a Offering)> {
        let it = *self.types.first()?;
        cheapest_offering(it, &self.requirements).map(|o| (it, o))
    }

    /// The launch price ([`Self::cheapest`]'s; 0 when none, as upstream's estimate).
    pub fn price(&self) -> f64 {
        self.cheapest().map_or(0.0, |(_, o)| o.price)
    }

    fn pin_spot(&mut self) {
        self.requirements
            .add(l::CAPACITY_TYPE, Requirement::in_values([SPOT]));
    }
}

/// Why no replacement is allowed (upstream's Unconsolidatable event texts).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoReplacement {
    /// Spot-to-spot needs the feature gate.
    #[error("SpotToSpotConsolidation is disabled, can't replace a spot node with a spot node")]
    SpotToSpotDisabled,
    /// Spot-to-spot single-node needs 15 cheaper types.
    #[error("SpotToSpotConsolidation requires {MIN_SPOT_TO_SPOT_TYPES} cheaper instance type options than the current candidate to consolidate, got {0}")]
    SpotToSpotTooFewTypes(usize),
    /// minValues cannot be met by the cheaper types.
    #[error("Filtering by price: {0}")]
    MinValues(MinValuesError),
    /// Nothing cheaper.
    #[error("Can't replace with a cheaper node")]
    NotCheaper,
}

/// `computeConsolidation`'s replace branch: the replacement's launch list under upstream's price
/// rules, given the candidates it replaces.
pub fn price_replacement<'a>(
    candidates: &[PricedCandidate<'_>],
    mut claim: ReplacementClaim<'a>,
    spot_to_spot_gate: bool,
) -> Result<ReplacementClaim<'a>, NoReplacement> {
    let total: f64 = candidates.iter().map(|c| c.price).sum();
    order_by_price(&mut claim.types, &claim.requirements);
    let all_spot = candidates.iter().all(|c| c.capacity_type == SPOT);
    let may_be_spot = claim.requirements.allows(l::CAPACITY_TYPE, SPOT);
    if all_spot && may_be_spot {
        if !spot_to_spot_gate {
            return Err(NoReplacement::SpotToSpotDisabled);
        }
        claim.pin_spot();
        claim.types = compatible(&claim.types, &claim.requirements);
        claim.types = remove_by_price_and_min_values(&claim.types, &claim.requirements, total)
            .map_err(NoReplacement::MinValues)?;
        if claim.types.is_empty() {
            return Err(NoReplacement::NotCheaper);
        }
        if candidates.len() > 1 {
            return Ok(claim);
        }
        if claim.types.len() < MIN_SPOT_TO_SPOT_TYPES {
            return Err(NoReplacement::SpotToSpotTooFewTypes(claim.types.len()));
        }
        let keep = match min_values_needed(&claim.types, &claim.requirements) {
            Ok(n) => n.max(MIN_SPOT_TO_SPOT_TYPES),
            Err(_) => claim.types.len(),
        };
        claim.types.truncate(keep);
        return Ok(claim);
    }
    claim.types = remove_by_price_and_min_values(&claim.types, &claim.requirements, total)
        .map_err(NoReplacement::MinValues)?;
    if claim.types.is_empty() {
        return Err(NoReplacement::NotCheaper);
    }
    if may_be_spot && claim.requirements.allows(l::CAPACITY_TYPE, ON_DEMAND) {
        claim.pin_spot();
    }
    Ok(claim)
}

/// Beyond upstream: one of several NodeClaims of a many-to-many repack. The launch list keeps
/// only types whose worst-case launch price is at most the first type's, so the move's cost is
/// bounded by the sum of those prices whatever launches; spot-to-spot still needs the gate, and
/// a claim allowed both spot and on-demand is pinned to spot. Returns the claim and its
/// worst-case price.
pub fn price_repack_claim<'a>(
    mut claim: ReplacementClaim<'a>,
    all_candidates_spot: bool,
    spot_to_spot_gate: bool,
) -> Result<(ReplacementClaim<'a>, f64), NoReplacement> {
    order_by_price(&mut claim.types, &claim.requirements);
    let may_be_spot = claim.requirements.allows(l::CAPACITY_TYPE, SPOT);
    if all_candidates_spot && may_be_spot && !spot_to_spot_gate {
        return Err(NoReplacement::SpotToSpotDisabled);
    }
    if may_be_spot && claim.requirements.allows(l::CAPACITY_TYPE, ON_DEMAND) {
        claim.pin_spot();
        claim.types = compatible(&claim.types, &claim.requirements);
    }
    let first = *claim.types.first().ok_or(NoReplacement::NotCheaper)?;
    let bound = worst_launch_price(first, &claim.requirements);
    if bound == f64::MAX {
        return Err(NoReplacement::NotCheaper);
    }
    claim.types = remove_by_price_and_min_values(
        &claim.types,
        &claim.requirements,
        bound + bound.abs() * 1e-12 + f64::MIN_POSITIVE,
    )
    .map_err(NoReplacement::MinValues)?;
    if claim.types.is_empty() {
        return Err(NoReplacement::NotCheaper);
    }
    Ok((claim, bound))
}

/// `filterOutSameInstanceType` (multi-node): when the replacement could launch as a type one of
/// the candidates already is, drop every type priced at or above the cheapest such candidate
/// (its cheapest offering compatible with the candidate's own zone and capacity type).
pub fn filter_out_same_instance_type<'a>(
    mut claim: ReplacementClaim<'a>,
    candidates: &[PricedCandidate<'_>],
) -> Result<ReplacementClaim<'a>, MinValuesError> {
    let mut price_by_type: BTreeMap<&str, f64> = BTreeMap::new();
    for c in candidates {
        let own = c
            .instance_type
            .offerings
            .iter()
            .filter(|o| o.zone == c.zone && o.capacity_type == c.capacity_type)
            .map(|o| o.price)
            .reduce(f64::min);
        if let Some(p) = own {
            let e = price_by_type
                .entry(&c.instance_type.name)
                .or_insert(f64::MAX);
            *e = e.min(p);
        }
    }
    let names: BTreeSet<&str> = candidates
        .iter()
        .map(|c| c.instance_type.name.as_str())
        .collect();
    let max_price = claim
        .types
        .iter()
        .filter(|it| names.contains(it.name.as_str()))
        .map(|it| price_by_type.get(it.name.as_str()).copied().unwrap_or(0.0))
        .fold(f64::MAX, f64::min);
    claim.types = remove_by_price_and_min_values(&claim.types, &claim.requirements, max_price)?;
    Ok(claim)
}

#[cfg(test)]
mod tests {
    use super::*;
    use karpenter_scheduling::requirements::{NodeSelectorRequirement, Operator};
    use karpenter_scheduling::Resources;

    fn offering(zone: &str, ct: &str, price: f64) -> Offering {
        Offering {
            zone: zone.into(),
            capacity_type: ct.into(),
            price,
            available: true,
        }
    }

    fn ty(name: &str, family: &str, offerings: Vec<Offering>) -> InstanceType {
        InstanceType::new(
            name,
            [(l::INSTANCE_FAMILY.to_string(), family.to_string())].into(),
            Resources::cpu_mem(2000, 8 << 30),
            Resources::default(),
            offerings,
        )
    }

    /// A type priced `p` on-demand and `p / 2` spot in zones a and b.
    fn od_spot(name: &str, p: f64) -> InstanceType {
        ty(
            name,
            &name[..2],
            vec![
                offering("a", ON_DEMAND, p),
                offering("b", ON_DEMAND, p),
                offering("a", SPOT, p / 2.0),
                offering("b", SPOT, p / 2.0 + 0.001),
            ],
        )
    }

    fn reqs(terms: &[(&str, Operator, &[&str], Option<usize>)]) -> Requirements {
        let terms: Vec<NodeSelectorRequirement> = terms
            .iter()
            .map(|(k, op, v, m)| NodeSelectorRequirement {
                min_values: *m,
                ..NodeSelectorRequirement::new(k, *op, v)
            })
            .collect();
        Requirements::from_terms(terms.iter()).unwrap()
    }

    fn cand<'a>(it: &'a InstanceType, zone: &'a str, ct: &'a str) -> PricedCandidate<'a> {
        PricedCandidate {
            instance_type: it,
            zone,
            capacity_type: ct,
            price: node_price(it, zone, ct),
        }
    }

    fn names(c: &ReplacementClaim<'_>) -> Vec<String> {
        c.types.iter().map(|t| t.name.clone()).collect()
    }

    #[test]
    fn worst_launch_price_prefers_reserved_then_spot_then_on_demand() {
        let t = ty(
            "m5.large",
            "m5",
            vec![
                offering("a", ON_DEMAND, 1.0),
                offering("a", SPOT, 0.3),
                offering("b", SPOT, 0.4),
            ],
        );
        let any = Requirements::new();
        assert_eq!(worst_launch_price(&t, &any), 0.4);
        let od = reqs(&[(l::CAPACITY_TYPE, Operator::In, &[ON_DEMAND], None)]);
        assert_eq!(worst_launch_price(&t, &od), 1.0);
        let zone_a = reqs(&[(l::ZONE, Operator::In, &["a"], None)]);
        assert_eq!(worst_launch_price(&t, &zone_a), 0.3);
        let mut r = t.clone();
        r.offerings.push(offering("a", RESERVED, 0.9));
        assert_eq!(worst_launch_price(&r, &any), 0.9);
        let none = reqs(&[(l::ZONE, Operator::In, &["z"], None)]);
        assert_eq!(worst_launch_price(&t, &none), f64::MAX);
        // Unavailable offerings do not count.
        let mut u = t.clone();
        u.offerings[2].available = false;
        assert_eq!(worst_launch_price(&u, &any), 0.3);
    }

    #[test]
    fn replacement_must_be_strictly_cheaper() {
        let big = od_spot("m5.xlarge", 0.2);
        let small = od_spot("m5.large", 0.1);
        let same = od_spot("c5.xlarge", 0.2);
        let od = reqs(&[(l::CAPACITY_TYPE, Operator::In, &[ON_DEMAND], None)]);
        let c = [cand(&big, "a", ON_DEMAND)];
        let claim = ReplacementClaim {
            types: vec![&same, &big, &small],
            requirements: od.clone(),
        };
        let r = price_replacement(&c, claim, false).unwrap();
        assert_eq!(
            names(&r),
            ["m5.large"],
            "ordered by price, equal price dropped"
        );
        assert_eq!(r.price(), 0.1);
        // Nothing cheaper: no command.
        let claim = ReplacementClaim {
            types: vec![&same, &big],
            requirements: od,
        };
        assert_eq!(
            price_replacement(&c, claim, false).unwrap_err(),
            NoReplacement::NotCheaper
        );
    }

    #[test]
    fn on_demand_to_spot_is_pinned_to_spot_and_judged_by_the_spot_price() {
        let big = od_spot("m5.xlarge", 0.2);
        let mid = od_spot("m5.2xlarge", 0.36); // spot 0.18 / 0.181: below 0.2
        let both = reqs(&[(l::CAPACITY_TYPE, Operator::In, &[ON_DEMAND, SPOT], None)]);
        let c = [cand(&big, "a", ON_DEMAND)];
        let claim = ReplacementClaim {
            types: vec![&mid],
            requirements: both,
        };
        let r = price_replacement(&c, claim, false).unwrap();
        assert_eq!(names(&r), ["m5.2xlarge"]);
        let ct = r.requirements.get(l::CAPACITY_TYPE).unwrap();
        assert!(ct.has(SPOT) && !ct.has(ON_DEMAND), "pinned to spot");
        assert_eq!(r.cheapest().unwrap().1.capacity_type, SPOT);
    }

    fn spot_types(n: usize, start: f64) -> Vec<InstanceType> {
        (0..n)
            .map(|i| {
                ty(
                    &format!("t{i:02}.large"),
                    &format!("f{}", i % 3),
                    vec![offering("a", SPOT, start + i as f64 * 0.001)],
                )
            })
            .collect()
    }

    #[test]
    fn spot_to_spot_needs_the_gate_and_fifteen_cheaper_types() {
        let current = ty("x9.large", "x9", vec![offering("a", SPOT, 0.5)]);
        let c = [cand(&current, "a", SPOT)];
        let spot = reqs(&[(l::CAPACITY_TYPE, Operator::In, &[SPOT], None)]);
        let cheaper = spot_types(20, 0.1);
        let claim = || ReplacementClaim {
            types: cheaper.iter().chain([&current]).collect(),
            requirements: spot.clone(),
        };
        assert_eq!(
            price_replacement(&c, claim(), false).unwrap_err(),
            NoReplacement::SpotToSpotDisabled
        );
        let r = price_replacement(&c, claim(), true).unwrap();
        assert_eq!(r.types.len(), 15, "launch list cut to the 15 cheapest");
        assert_eq!(r.types[0].name, "t00.large");
        assert_eq!(r.types[14].name, "t14.large");
        // 14 cheaper types are not enough for a single-node move.
        let few = spot_types(14, 0.1);
        let claim = ReplacementClaim {
            types: few.iter().chain([&current]).collect(),
            requirements: spot.clone(),
        };
        assert_eq!(
            price_replacement(&c, claim, true).unwrap_err(),
            NoReplacement::SpotToSpotTooFewTypes(14)
        );
        // Multi-node moves need no 15 types and keep the whole cheaper list.
        let c2 = [cand(&current, "a", SPOT), cand(&current, "a", SPOT)];
        let claim = ReplacementClaim {
            types: few.iter().collect(),
            requirements: spot.clone(),
        };
        assert_eq!(price_replacement(&c2, claim, true).unwrap().types.len(), 14);
        // On-demand candidates with a spot-capable replacement are not spot-to-spot.
        let od_current = ty("x9.large", "x9", vec![offering("a", ON_DEMAND, 0.5)]);
        let c = [cand(&od_current, "a", ON_DEMAND)];
        let claim = ReplacementClaim {
            types: few.iter().collect(),
            requirements: Requirements::new(),
        };
        assert_eq!(price_replacement(&c, claim, false).unwrap().types.len(), 14);
    }

    #[test]
    fn spot_to_spot_keeps_more_than_fifteen_when_min_values_needs_them() {
        let current = ty("x9.large", "x9", vec![offering("a", SPOT, 0.5)]);
        let c = [cand(&current, "a", SPOT)];
        // 20 types, families f0..f19 cycling only after 17: minValues 17 families.
        let cheaper: Vec<InstanceType> = (0..20)
            .map(|i| {
                ty(
                    &format!("t{i:02}.large"),
                    &format!("f{i}"),
                    vec![offering("a", SPOT, 0.1 + i as f64 * 0.001)],
                )
            })
            .collect();
        let r = reqs(&[
            (l::CAPACITY_TYPE, Operator::In, &[SPOT], None),
            (l::INSTANCE_FAMILY, Operator::Exists, &[], Some(17)),
        ]);
        let claim = ReplacementClaim {
            types: cheaper.iter().collect(),
            requirements: r,
        };
        assert_eq!(price_replacement(&c, claim, true).unwrap().types.len(), 17);
    }

    #[test]
    fn min_values_are_kept_after_the_price_filter() {
        let current = od_spot("m5.2xlarge", 0.4);
        let c = [cand(&current, "a", ON_DEMAND)];
        let a = ty("c5.large", "c5", vec![offering("a", ON_DEMAND, 0.1)]);
        let b = ty("c5.xlarge", "c5", vec![offering("a", ON_DEMAND, 0.2)]);
        let d = ty("r5.4xlarge", "r5", vec![offering("a", ON_DEMAND, 0.9)]);
        let r = reqs(&[
            (l::CAPACITY_TYPE, Operator::In, &[ON_DEMAND], None),
            (l::INSTANCE_FAMILY, Operator::In, &["c5", "r5"], Some(2)),
        ]);
        // Only c5 types are cheaper: two families cannot be kept.
        let claim = ReplacementClaim {
            types: vec![&a, &b, &d],
            requirements: r,
        };
        let e = price_replacement(&c, claim, false).unwrap_err();
        assert!(
            matches!(&e, NoReplacement::MinValues(m) if m.0.get(l::INSTANCE_FAMILY) == Some(&1)),
            "{e}"
        );
        assert!(e.to_string().contains("minValues"), "{e}");
        let its = [&a, &b, &d];
        let r2 = reqs(&[(l::INSTANCE_FAMILY, Operator::Exists, &[], Some(2))]);
        assert_eq!(min_values_needed(&its, &r2), Ok(3));
        assert_eq!(min_values_needed(&its, &Requirements::new()), Ok(0));
    }

    #[test]
    fn multi_node_drops_types_as_dear_as_a_candidate_of_the_same_type() {
        // [t3a.2xlarge, t3a.2xlarge, t3a.small] -> {t3a.nano, t3a.small, t3a.xlarge}: only nano.
        let nano = ty("t3a.nano", "t3a", vec![offering("a", ON_DEMAND, 0.005)]);
        let small = ty("t3a.small", "t3a", vec![offering("a", ON_DEMAND, 0.02)]);
        let xl = ty("t3a.xlarge", "t3a", vec![offering("a", ON_DEMAND, 0.15)]);
        let xxl = ty("t3a.2xlarge", "t3a", vec![offering("a", ON_DEMAND, 0.3)]);
        let c = [
            cand(&xxl, "a", ON_DEMAND),
            cand(&xxl, "a", ON_DEMAND),
            cand(&small, "a", ON_DEMAND),
        ];
        let claim = ReplacementClaim {
            types: vec![&nano, &small, &xl, &xxl],
            requirements: Requirements::new(),
        };
        let r = filter_out_same_instance_type(claim, &c).unwrap();
        assert_eq!(names(&r), ["t3a.nano"]);
        // Without t3a.nano nothing is left: the move is just a deletion.
        let claim = ReplacementClaim {
            types: vec![&small, &xl],
            requirements: Requirements::new(),
        };
        assert!(filter_out_same_instance_type(claim, &c)
            .unwrap()
            .types
            .is_empty());
        // No shared type: nothing filtered.
        let claim = ReplacementClaim {
            types: vec![&nano, &xl],
            requirements: Requirements::new(),
        };
        assert_eq!(
            names(&filter_out_same_instance_type(claim, &[cand(&xxl, "a", ON_DEMAND)]).unwrap()),
            ["t3a.nano", "t3a.xlarge"]
        );
    }

    #[test]
    fn node_price_is_the_offering_for_its_zone_and_capacity_type() {
        let t = od_spot("m5.large", 0.1);
        assert_eq!(node_price(&t, "b", SPOT), 0.1 / 2.0 + 0.001);
        assert_eq!(node_price(&t, "a", ON_DEMAND), 0.1);
        assert_eq!(node_price(&t, "z", ON_DEMAND), 0.0);
    }
}
