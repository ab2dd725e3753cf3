//! Feature gates, as upstream names and parses them (upstream:
//! `kubernetes-sigs/karpenter: pkg/operator/options/options.go`, `FEATURE_GATES` /
//! `--feature-gates`, a comma-separated `Name=bool` list parsed by
//! `k8s.io/component-base/featuregate`).
//!
//! One value serves `simulate --disrupt` and `run`, so a gate means the same in both.
use std::fmt;

/// Upstream's gates, with upstream's defaults (all off except the ones upstream turned on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureGates {
    /// `SpotToSpotConsolidation` (default false).
    pub spot_to_spot_consolidation: bool,
    /// `NodeRepair` (default false).
    pub node_repair: bool,
    /// `ReservedCapacity` (default true since v1.6).
    pub reserved_capacity: bool,
    /// `NodeOverlay` (default false).
    pub node_overlay: bool,
    /// `StaticCapacity` (default false).
    pub static_capacity: bool,
    /// `CapacityBuffer` (default false). Known so upstream's default `FEATURE_GATES` parses;
    /// nothing here implements it yet ([`FeatureGates::unsupported`] names it when on).
    pub capacity_buffer: bool,
}

impl Default for FeatureGates {
    fn default() -> Self {
        FeatureGates {
            spot_to_spot_consolidation: false,
            node_repair: false,
            reserved_capacity: true,
            node_overlay: false,
            static_capacity: false,
            capacity_buffer: false,
        }
    }
}

/// A `--feature-gates` value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeatureGateError {
    /// An entry without `=`.
    #[error("feature gate entry {entry:?} is not Name=true|false (example: SpotToSpotConsolidation=true)")]
    Malformed {
        /// The entry as given.
        entry: String,
    },
    /// A gate upstream does not have.
    #[error("unknown feature gate {name:?}; known gates: {}", FeatureGates::NAMES.join(", "))]
    Unknown {
        /// The name as given.
        name: String,
    },
    /// A value other than true or false.
    #[error("feature gate {name} has value {value:?}; use true or false")]
    Value {
        /// The gate.
        name: String,
        /// The value as given.
        value: String,
    },
}

impl FeatureGates {
    /// Every gate's name, as upstream spells it.
    pub const NAMES: [&'static str; 6] = [
        "CapacityBuffer",
        "NodeOverlay",
        "NodeRepair",
        "ReservedCapacity",
        "SpotToSpotConsolidation",
        "StaticCapacity",
    ];

    /// Parse `Name=bool[,Name=bool...]` over upstream's defaults. Empty entries are ignored
    /// (an empty string gives the defaults); a later entry for the same gate wins, as in
    /// component-base. Values are `strconv.ParseBool`'s (`true`, `1`, `t`, `TRUE`, ...).
    pub fn parse(s: &str) -> Result<Self, FeatureGateError> {
        let mut g = FeatureGates::default();
        for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let Some((name, value)) = entry.split_once('=') else {
                return Err(FeatureGateError::Malformed {
                    entry: entry.to_string(),
                });
            };
            let (name, value) = (name.trim(), value.trim());
            let v = parse_bool(value).ok_or_else(|| FeatureGateError::Value {
                name: name.to_string(),
                value: value.to_string(),
            })?;
            let slot = match name {
                "SpotToSpotConsolidation" => &mut g.spot_to_spot_consolidation,
                "NodeRepair" => &mut g.node_repair,
                "ReservedCapacity" => &mut g.reserved_capacity,
                "NodeOverlay" => &mut g.node_overlay,
                "StaticCapacity" => &mut g.static_capacity,
                "CapacityBuffer" => &mut g.capacity_buffer,
                _ => {
                    return Err(FeatureGateError::Unknown {
                        name: name.to_string(),
                    })
                }
            };
            *slot = v;
        }
        Ok(g)
    }

    /// The gates that are on but that nothing in this project implements yet, so callers can
    /// say so instead of silently ignoring them.
    pub fn unsupported(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.capacity_buffer {
            out.push("CapacityBuffer");
        }
        if self.node_overlay {
            out.push("NodeOverlay");
        }
        out
    }
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

impl fmt::Display for FeatureGates {
    /// The canonical `Name=bool,...` form (every gate, sorted by name).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CapacityBuffer={},NodeOverlay={},NodeRepair={},ReservedCapacity={},SpotToSpotConsolidation={},StaticCapacity={}",
            self.capacity_buffer,
            self.node_overlay,
            self.node_repair,
            self.reserved_capacity,
            self.spot_to_spot_consolidation,
            self.static_capacity
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_upstreams() {
        let g = FeatureGates::parse("").unwrap();
        assert_eq!(g, FeatureGates::default());
        assert!(!g.spot_to_spot_consolidation && !g.node_repair && !g.static_capacity);
        assert!(g.reserved_capacity);
    }

    #[test]
    fn entries_override_defaults_and_later_entries_win() {
        let g = FeatureGates::parse(
            "SpotToSpotConsolidation=true, NodeRepair=1,ReservedCapacity=false,NodeRepair=f",
        )
        .unwrap();
        assert!(g.spot_to_spot_consolidation);
        assert!(!g.node_repair);
        assert!(!g.reserved_capacity);
        assert_eq!(FeatureGates::parse(&g.to_string()).unwrap(), g);
    }

    #[test]
    fn upstreams_default_list_parses_and_unimplemented_gates_are_named() {
        let upstream = "NodeRepair=false,ReservedCapacity=true,SpotToSpotConsolidation=false,NodeOverlay=false,StaticCapacity=false,CapacityBuffer=false";
        let g = FeatureGates::parse(upstream).unwrap();
        assert_eq!(g, FeatureGates::default());
        assert!(g.unsupported().is_empty());
        let g = FeatureGates::parse("CapacityBuffer=true,NodeOverlay=true").unwrap();
        assert_eq!(g.unsupported(), vec!["CapacityBuffer", "NodeOverlay"]);
    }

    #[test]
    fn bad_entries_say_what_to_write() {
        let e = FeatureGates::parse("SpotToSpotConsolidation").unwrap_err();
        assert!(e.to_string().contains("Name=true|false"), "{e}");
        let e = FeatureGates::parse("SpotToSpot=true").unwrap_err();
        assert!(e.to_string().contains("SpotToSpotConsolidation"), "{e}");
        let e = FeatureGates::parse("NodeRepair=yes").unwrap_err();
        assert!(e.to_string().contains("true or false"), "{e}");
    }
}
