//! Resource quantities: Kubernetes quantity parsing (apimachinery `pkg/api/resource/quantity.go`)
//! and the resource vector the engine packs.
//!
//! Every quantity a resource vector holds is non-negative and fits an `i64` in engine units (the
//! API server rejects negative requests, limits and capacities); sums and differences saturate
//! at the `i64` bounds, so two huge requests can never wrap round into a small one.
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Error;

/// Resource name for CPU (stored in millicores).
pub const CPU: &str = "cpu";
/// Resource name for memory (stored in bytes).
pub const MEMORY: &str = "memory";
/// Resource name for the pod count.
pub const PODS: &str = "pods";
/// Resource name for ephemeral storage (stored in bytes).
pub const EPHEMERAL_STORAGE: &str = "ephemeral-storage";

/// Parse a Kubernetes quantity (`100m`, `1.5`, `2Gi`, `1e3`, `512Mi`) into thousandths of a unit,
/// rounded up.
pub fn parse_quantity_milli(s: &str) -> Result<i128, Error> {
    let bad = || Error::Quantity(s.to_string());
    let t = s.trim();
    if t.is_empty() {
        return Err(bad());
    }
    let (sign, t) = match t.as_bytes()[0] {
        b'-' => (-1i128, &t[1..]),
        b'+' => (1, &t[1..]),
        _ => (1, t),
    };
    let num_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, suffix) = t.split_at(num_end);
    if num.is_empty() || num == "." || num.matches('.').count() > 1 {
        return Err(bad());
    }
    let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
    // value = digits / 10^frac_len, then scaled by the suffix, in milli-units.
    let digits: String = format!("{int_part}{frac_part}");
    if digits.len() > 30 {
        return Err(bad());
    }
    let mantissa: i128 = digits.parse().map_err(|_| bad())?;
    let frac_len = frac_part.len() as u32;
    // (multiplier numerator, decimal exponent) of the suffix
    let (mul, exp10): (i128, i32) = match suffix {
        "" => (1, 0),
        "n" => (1, -9),
        "u" => (1, -6),
        "m" => (1, -3),
        "k" => (1, 3),
        "M" => (1, 6),
        "G" => (1, 9),
        "T" => (1, 12),
        "P" => (1, 15),
        "E" => (1, 18),
        "Ki" => (1 << 10, 0),
        "Mi" => (1 << 20, 0),
        "Gi" => (1 << 30, 0),
        "Ti" => (1 << 40, 0),
        "Pi" => (1 << 50, 0),
        "Ei" => (1 << 60, 0),
        e if e.starts_with('e') || e.starts_with('E') => {
            let x: i32 = e[1..].parse().map_err(|_| bad())?;
            if !(-30..=30).contains(&x) {
                return Err(bad());
            }
            (1, x)
        }
        _ => return Err(bad()),
    };
    // milli-units: mantissa * mul * 10^(exp10 + 3 - frac_len)
    let e = exp10 + 3 - frac_len as i32;
    let too_big = || Error::QuantityOutOfRange(s.to_string());
    let base = mantissa.checked_mul(mul).ok_or_else(too_big)?;
    let v = if e >= 0 {
        base.checked_mul(10i128.checked_pow(e as u32).ok_or_else(too_big)?)
            .ok_or_else(too_big)?
    } else {
        let d = 10i128.checked_pow((-e) as u32).ok_or_else(bad)?;
        // rounded up, without the overflow `base + d - 1` could hit
        base / d + i128::from(base % d != 0)
    };
    Ok(sign * v)
}

/// Parse a quantity into whole units, rounded up (bytes for memory, pods, GPUs).
pub fn parse_quantity_units(s: &str) -> Result<i64, Error> {
    let m = parse_quantity_milli(s)?;
    let units = if m >= 0 { (m + 999) / 1000 } else { m / 1000 };
    i64::try_from(units).map_err(|_| Error::QuantityOutOfRange(s.to_string()))
}

/// Parse the quantity for resource `name` into the engine's unit (millicores for cpu, whole
/// units for everything else). A negative quantity is an error (the API server rejects negative
/// requests, limits and capacities), and so is one beyond `i64` engine units (`9Ei` bytes).
pub fn parse_resource(name: &str, s: &str) -> Result<i64, Error> {
    let m = parse_quantity_milli(s)?;
    // the sign is judged before rounding to whole units: `-1m` of memory is negative, not 0
    if m < 0 {
        return Err(Error::NegativeQuantity(s.to_string()));
    }
    if name == CPU {
        i64::try_from(m).map_err(|_| Error::QuantityOutOfRange(s.to_string()))
    } else {
        parse_quantity_units(s)
    }
}

/// A resource vector: cpu in millicores, memory and ephemeral-storage in bytes, pods, and any
/// extended resources (`nvidia.com/gpu`, ...) in whole units.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    /// CPU in millicores.
    pub cpu_millis: i64,
    /// Memory in bytes.
    pub memory_bytes: i64,
    /// Pod slots.
    pub pods: i64,
    /// Ephemeral storage in bytes.
    pub ephemeral_bytes: i64,
    /// Extended resources, sorted by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extended: BTreeMap<String, i64>,
}

impl Resources {
    /// A vector with only cpu and memory set.
    pub fn cpu_mem(cpu_millis: i64, memory_bytes: i64) -> Self {
        Resources {
            cpu_millis,
            memory_bytes,
            ..Default::default()
        }
    }

    /// Build from a `name → quantity string` list, as in a container's `resources.requests`;
    /// an error names the resource ([`Error::Field`]).
    pub fn from_quantities<'a>(
        list: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, Error> {
        let mut r = Resources::default();
        for (k, v) in list {
            let q = parse_resource(k, v).map_err(|e| Error::Field {
                field: k.to_string(),
                source: Box::new(e),
            })?;
            r.set(k, q);
        }
        Ok(r)
    }

    /// The amount of resource `name` in engine units.
    pub fn get(&self, name: &str) -> i64 {
        match name {
            CPU => self.cpu_millis,
            MEMORY => self.memory_bytes,
            PODS => self.pods,
            EPHEMERAL_STORAGE => self.ephemeral_bytes,
            other => self.extended.get(other).copied().unwrap_or(0),
        }
    }

    /// Set resource `name` in engine units.
    pub fn set(&mut self, name: &str, v: i64) {
        match name {
            CPU => self.cpu_millis = v,
            MEMORY => self.memory_bytes = v,
            PODS => self.pods = v,
            EPHEMERAL_STORAGE => self.ephemeral_bytes = v,
            other => {
                self.extended.insert(other.to_string(), v);
            }
        }
    }

    /// Add `o` into `self`, saturating at the `i64` bounds.
    pub fn add(&mut self, o: &Resources) {
        self.cpu_millis = self.cpu_millis.saturating_add(o.cpu_millis);
        self.memory_bytes = self.memory_bytes.saturating_add(o.memory_bytes);
        self.pods = self.pods.saturating_add(o.pods);
        self.ephemeral_bytes = self.ephemeral_bytes.saturating_add(o.ephemeral_bytes);
        for (k, v) in &o.extended {
            let e = self.extended.entry(k.clone()).or_insert(0);
            *e = e.saturating_add(*v);
        }
    }

    /// Subtract `o` from `self`, saturating at the `i64` bounds.
    pub fn sub(&mut self, o: &Resources) {
        self.cpu_millis = self.cpu_millis.saturating_sub(o.cpu_millis);
        self.memory_bytes = self.memory_bytes.saturating_sub(o.memory_bytes);
        self.pods = self.pods.saturating_sub(o.pods);
        self.ephemeral_bytes = self.ephemeral_bytes.saturating_sub(o.ephemeral_bytes);
        for (k, v) in &o.extended {
            let e = self.extended.entry(k.clone()).or_insert(0);
            *e = e.saturating_sub(*v);
        }
    }

    /// Component-wise maximum.
    pub fn max_with(&mut self, o: &Resources) {
        self.cpu_millis = self.cpu_millis.max(o.cpu_millis);
        self.memory_bytes = self.memory_bytes.max(o.memory_bytes);
        self.pods = self.pods.max(o.pods);
        self.ephemeral_bytes = self.ephemeral_bytes.max(o.ephemeral_bytes);
        for (k, v) in &o.extended {
            let e = self.extended.entry(k.clone()).or_insert(*v);
            *e = (*e).max(*v);
        }
    }

    /// Floor every component at zero.
    pub fn floor_zero(&mut self) {
        self.cpu_millis = self.cpu_millis.max(0);
        self.memory_bytes = self.memory_bytes.max(0);
        self.pods = self.pods.max(0);
        self.ephemeral_bytes = self.ephemeral_bytes.max(0);
        for v in self.extended.values_mut() {
            *v = (*v).max(0);
        }
    }

    /// True when `self + extra ≤ cap` for every resource (absent extended resources are 0).
    #[inline]
    pub fn fits_with(&self, extra: &Resources, cap: &Resources) -> bool {
        if self.cpu_millis.saturating_add(extra.cpu_millis) > cap.cpu_millis
            || self.memory_bytes.saturating_add(extra.memory_bytes) > cap.memory_bytes
            || self.pods.saturating_add(extra.pods) > cap.pods
            || self.ephemeral_bytes.saturating_add(extra.ephemeral_bytes) > cap.ephemeral_bytes
        {
            return false;
        }
        if self.extended.is_empty() && extra.extended.is_empty() {
            return true;
        }
        let keys = self.extended.keys().chain(extra.extended.keys());
        for k in keys {
            let need = self
                .extended
                .get(k)
                .copied()
                .unwrap_or(0)
                .saturating_add(extra.extended.get(k).copied().unwrap_or(0));
            if need > 0 && need > cap.extended.get(k).copied().unwrap_or(0) {
                return false;
            }
        }
        true
    }

    /// True when `self ≤ cap` for every resource.
    pub fn fits(&self, cap: &Resources) -> bool {
        self.fits_with(&Resources::default(), cap)
    }

    /// The first resource for which `self + extra > cap`, for error messages.
    pub fn first_exceeding(&self, extra: &Resources, cap: &Resources) -> Option<String> {
        let mut names: Vec<&str> = vec![CPU, MEMORY, PODS, EPHEMERAL_STORAGE];
        names.extend(self.extended.keys().map(String::as_str));
        names.extend(extra.extended.keys().map(String::as_str));
        names
            .into_iter()
            .find(|n| self.get(n).saturating_add(extra.get(n)) > cap.get(n))
            .map(str::to_string)
    }
}

impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cpu={}m memory={}Mi pods={}",
            self.cpu_millis,
            self.memory_bytes / (1 << 20),
            self.pods
        )?;
        if self.ephemeral_bytes > 0 {
            write!(
                f,
                " ephemeral-storage={}Mi",
                self.ephemeral_bytes / (1 << 20)
            )?;
        }
        for (k, v) in &self.extended {
            write!(f, " {k}={v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_like_kubernetes() {
        assert_eq!(parse_resource(CPU, "100m").unwrap(), 100);
        assert_eq!(parse_resource(CPU, "1.5").unwrap(), 1500);
        assert_eq!(parse_resource(CPU, "2").unwrap(), 2000);
        assert_eq!(parse_resource(CPU, "0.0001").unwrap(), 1, "rounded up");
        assert_eq!(parse_resource(MEMORY, "512Mi").unwrap(), 512 << 20);
        assert_eq!(parse_resource(MEMORY, "1Gi").unwrap(), 1 << 30);
        assert_eq!(parse_resource(MEMORY, "1G").unwrap(), 1_000_000_000);
        assert_eq!(parse_resource(MEMORY, "1e3").unwrap(), 1000);
        assert_eq!(parse_resource(MEMORY, "1.5Ki").unwrap(), 1536);
        assert_eq!(parse_resource("nvidia.com/gpu", "1").unwrap(), 1);
    }

    #[test]
    fn bad_quantities_are_errors() {
        for s in ["", "abc", "1.2.3", "1Qi", "Mi", "1e99"] {
            assert!(parse_resource(MEMORY, s).is_err(), "{s:?} should fail");
        }
    }

    #[test]
    fn negative_and_out_of_range_quantities_are_errors() {
        for (name, s) in [
            (CPU, "-4"),
            (MEMORY, "-1Gi"),
            (CPU, "-1m"),
            ("nvidia.com/gpu", "-1"),
        ] {
            let e = parse_resource(name, s).unwrap_err();
            assert!(matches!(e, Error::NegativeQuantity(_)), "{name}={s}: {e}");
            assert!(e.to_string().contains("negative"), "{e}");
        }
        // 8Ei bytes is one past i64::MAX; 9.3e15 cores is past i64::MAX millicores.
        for (name, s) in [(MEMORY, "8Ei"), (MEMORY, "10E"), (CPU, "9300000000000000")] {
            let e = parse_resource(name, s).unwrap_err();
            assert!(matches!(e, Error::QuantityOutOfRange(_)), "{name}={s}: {e}");
        }
        assert_eq!(parse_resource(MEMORY, "5Ei").unwrap(), 5 << 60);
        assert_eq!(parse_resource(CPU, "0").unwrap(), 0);
        assert_eq!(parse_resource(CPU, "-0").unwrap(), 0);
    }

    #[test]
    fn sums_of_huge_requests_saturate_instead_of_wrapping() {
        // Two containers asking for 5Ei each: the sum must not wrap round to a negative number
        // that then "fits" on any node.
        let big = Resources::cpu_mem(0, 5 << 60);
        let mut total = big.clone();
        total.add(&big);
        assert_eq!(total.memory_bytes, i64::MAX);
        let node = Resources::cpu_mem(4000, 16 << 30);
        assert!(!total.fits(&node));
        assert!(!big.fits_with(&big, &Resources::cpu_mem(0, i64::MAX - 1)));
        let mut room = Resources::cpu_mem(i64::MIN + 1, 0);
        room.sub(&Resources::cpu_mem(10, 0));
        assert_eq!(room.cpu_millis, i64::MIN);
    }

    #[test]
    fn fits_checks_every_resource() {
        let cap = Resources {
            cpu_millis: 1000,
            memory_bytes: 1000,
            pods: 2,
            ..Default::default()
        };
        let mut used = Resources::cpu_mem(500, 500);
        used.pods = 1;
        let mut req = Resources::cpu_mem(500, 500);
        req.pods = 1;
        assert!(used.fits_with(&req, &cap));
        req.extended.insert("nvidia.com/gpu".into(), 1);
        assert!(!used.fits_with(&req, &cap));
        assert_eq!(
            used.first_exceeding(&req, &cap).as_deref(),
            Some("nvidia.com/gpu")
        );
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        const SUFFIXES: &[(&str, i128, i32)] = &[
            ("", 1, 0),
            ("m", 1, -3),
            ("k", 1, 3),
            ("M", 1, 6),
            ("G", 1, 9),
            ("T", 1, 12),
            ("P", 1, 15),
            ("E", 1, 18),
            ("Ki", 1 << 10, 0),
            ("Mi", 1 << 20, 0),
            ("Gi", 1 << 30, 0),
            ("Ti", 1 << 40, 0),
            ("Pi", 1 << 50, 0),
            ("Ei", 1 << 60, 0),
        ];

        /// The exact value of `n` × suffix in whole units (rounded up) or millis, in i128.
        fn reference(name: &str, n: i128, mul: i128, exp10: i32) -> Option<i128> {
            let scaled = |extra: i32| -> Option<i128> {
                let e = exp10 + extra;
                let base = n.checked_mul(mul)?;
                if e >= 0 {
                    base.checked_mul(10i128.checked_pow(e as u32)?)
                } else {
                    let d = 10i128.pow((-e) as u32);
                    Some((base + d - 1) / d)
                }
            };
            if name == CPU {
                scaled(3)
            } else {
                scaled(0)
            }
        }

        fn resource_name() -> impl Strategy<Value = &'static str> {
            prop_oneof![
                Just(CPU),
                Just(MEMORY),
                Just(PODS),
                Just(EPHEMERAL_STORAGE),
                Just("nvidia.com/gpu"),
            ]
        }

        fn vector() -> impl Strategy<Value = Resources> {
            let v = prop_oneof![
                0i64..1_000_000,
                (i64::MAX - 1_000_000)..=i64::MAX,
                any::<u32>().prop_map(|x| i64::from(x) << 31)
            ];
            (v.clone(), v.clone(), v.clone(), v.clone(), v).prop_map(|(c, m, p, e, g)| {
                let mut r = Resources {
                    cpu_millis: c,
                    memory_bytes: m,
                    pods: p,
                    ephemeral_bytes: e,
                    ..Default::default()
                };
                if g % 2 == 0 {
                    r.extended.insert("nvidia.com/gpu".into(), g);
                }
                r
            })
        }

        proptest! {
            /// Any text: no panic, and whatever parses is a non-negative engine amount.
            #[test]
            fn any_text_parses_to_a_non_negative_amount_or_an_error(
                name in resource_name(),
                s in "[-+]?[0-9.]{0,25}([eE][-+]?[0-9]{1,3}|[numkMGTPE]|[KMGTPE]i)?|\\PC{0,12}",
            ) {
                if let Ok(v) = parse_resource(name, &s) {
                    prop_assert!(v >= 0, "{name}={s:?} gave {v}");
                }
            }

            /// Well-formed quantities: exactly the i128 value when it fits an i64, else an
            /// out-of-range error; a non-zero negative one is a negative-quantity error.
            #[test]
            fn well_formed_quantities_are_exact_negative_or_out_of_range(
                name in resource_name(),
                n in prop_oneof![0i128..10_000, 0i128..=i128::from(u64::MAX)],
                suffix in 0..SUFFIXES.len(),
                negative in any::<bool>(),
            ) {
                let (sfx, mul, exp10) = SUFFIXES[suffix];
                let text = format!("{}{n}{sfx}", if negative { "-" } else { "" });
                let got = parse_resource(name, &text);
                let want = reference(name, n, mul, exp10);
                match (got, want) {
                    (Ok(v), Some(w)) => {
                        prop_assert!(!negative || w == 0, "{text} accepted as {v}");
                        prop_assert_eq!(i128::from(v), w, "{}", text);
                    }
                    (Err(Error::NegativeQuantity(q)), Some(w)) => {
                        prop_assert!(negative && w != 0, "{text}");
                        prop_assert_eq!(q, text);
                    }
                    (Err(Error::QuantityOutOfRange(q)), w) => {
                        prop_assert!(w.is_none_or(|w| w > i128::from(i64::MAX)), "{text}: {w:?}");
                        prop_assert_eq!(q, text);
                    }
                    (other, w) => prop_assert!(false, "{text}: {other:?} (reference {w:?})"),
                }
            }

            /// A bad quantity in a list is reported with its resource name.
            #[test]
            fn list_errors_name_the_resource(
                name in resource_name(),
                bad in prop_oneof![Just("-1".to_string()), Just("10Ei".to_string()), "[a-z]{1,5}"],
            ) {
                let e = Resources::from_quantities([(CPU, "1"), (name, bad.as_str())]).unwrap_err();
                let text = e.to_string();
                prop_assert!(matches!(e, Error::Field { ref field, .. } if field == name), "{text}");
                prop_assert!(text.starts_with(&format!("{name}: ")), "{text}");
                prop_assert!(text.contains(&format!("{bad:?}")), "{text}");
            }

            /// Sums and differences saturate: never a wrap, always the clamped i128 result.
            #[test]
            fn sums_saturate_and_fits_never_wraps(a in vector(), b in vector(), cap in vector()) {
                let clamp = |x: i128| x.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
                let mut sum = a.clone();
                sum.add(&b);
                let mut diff = a.clone();
                diff.sub(&b);
                for n in [CPU, MEMORY, PODS, EPHEMERAL_STORAGE, "nvidia.com/gpu"] {
                    let (x, y) = (i128::from(a.get(n)), i128::from(b.get(n)));
                    prop_assert_eq!(sum.get(n), clamp(x + y), "{} sum", n);
                    prop_assert_eq!(diff.get(n), clamp(x - y), "{} diff", n);
                    prop_assert!(sum.get(n) >= a.get(n).max(b.get(n)), "{} wrapped", n);
                }
                let fits_exact = [CPU, MEMORY, PODS, EPHEMERAL_STORAGE].iter().all(|n| {
                    i128::from(a.get(n)) + i128::from(b.get(n)) <= i128::from(cap.get(n))
                });
                if a.fits_with(&b, &cap) {
                    prop_assert!(fits_exact, "{a:?} + {b:?} fits {cap:?}");
                    prop_assert!(a.first_exceeding(&b, &cap).is_none());
                } else {
                    prop_assert!(a.first_exceeding(&b, &cap).is_some());
                }
            }
        }
    }
}
