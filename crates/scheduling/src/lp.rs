//! The LP lower bound on the hourly price of new capacity.
//!
//! The bound is the optimum of the fractional relaxation
//!
//! ```text
//! minimise   Σ_t price_t · x_t
//! subject to Σ_t alloc_{t,r} · x_t ≥ demand_r   for every resource r (cpu, memory, pods, ...)
//!            x_t ≥ 0
//! ```
//!
//! where `demand` is the summed requests of the pods placed on new capacity, `alloc_{t,r}` is the
//! type's allocatable minus the smallest DaemonSet overhead any NodePool charges on it, and
//! `price_t` is its cheapest available offering. Any integral placement is a feasible `x`, so the
//! optimum is a lower bound. It is reported through a dual solution `y ≥ 0` with
//! `alloc_t · y ≤ price_t` for every type, scaled down until that holds exactly, so floating-point
//! error in the simplex can only make the bound smaller, never invalid (weak duality).

/// One column of the LP: a type's effective allocatable per resource dimension and its price.
#[derive(Debug, Clone)]
pub struct Column {
    /// Allocatable per dimension (same order as the demand).
    pub alloc: Vec<f64>,
    /// Hourly price.
    pub price: f64,
}

/// Compute the bound. Returns 0 when there is no demand; `None` when no combination of types
/// covers the demand (some dimension has no supplier).
pub fn lower_bound(columns: &[Column], demand: &[f64]) -> Option<f64> {
    solve_dual(columns, demand).map(|d| d.bound)
}

/// A certified dual solution.
#[derive(Debug, Clone, PartialEq)]
pub struct Dual {
    /// The lower bound `demand · prices`.
    pub bound: f64,
    /// Shadow price per unit of each demand dimension (0 for dimensions without demand), with
    /// `alloc_t · prices ≤ price_t` for every column.
    pub prices: Vec<f64>,
}

impl Dual {
    /// How much a column is worth at these shadow prices (`alloc · prices`); a column whose
    /// price is close to its worth is cost-efficient for this demand.
    pub fn worth(&self, alloc: &[f64]) -> f64 {
        alloc.iter().zip(&self.prices).map(|(a, y)| a * y).sum()
    }
}

/// Like [`lower_bound`], also returning the shadow prices.
pub fn solve_dual(columns: &[Column], demand: &[f64]) -> Option<Dual> {
    // Keep dimensions with positive demand, scaled to 1.
    let dims: Vec<usize> = (0..demand.len()).filter(|&r| demand[r] > 0.0).collect();
    if dims.is_empty() {
        return Some(Dual {
            bound: 0.0,
            prices: vec![0.0; demand.len()],
        });
    }
    let k = dims.len();
    let cols: Vec<(Vec<f64>, f64)> = columns
        .iter()
        .filter(|c| c.price.is_finite() && c.price >= 0.0)
        .map(|c| {
            (
                dims.iter()
                    .map(|&r| c.alloc.get(r).copied().unwrap_or(0.0).max(0.0) / demand[r])
                    .collect(),
                c.price,
            )
        })
        .collect();
    for i in 0..k {
        if !cols.iter().any(|(a, _)| a[i] > 0.0) {
            return None;
        }
    }
    let y = simplex_duals(&cols, k);
    // Certify: y ≥ 0 and a_t·y ≤ p_t for all t, scaling down if needed.
    let y: Vec<f64> = y.into_iter().map(|v| v.max(0.0)).collect();
    let mut scale: f64 = 1.0;
    for (a, p) in &cols {
        let ay: f64 = a.iter().zip(&y).map(|(a, y)| a * y).sum();
        if ay > *p {
            if *p <= 0.0 {
                return Some(Dual {
                    bound: 0.0,
                    prices: vec![0.0; demand.len()],
                });
            }
            scale = scale.max(ay / p);
        }
    }
    // demand is 1 in every scaled dimension
    let mut prices = vec![0.0; demand.len()];
    for (i, &r) in dims.iter().enumerate() {
        prices[r] = y[i] / scale / demand[r];
    }
    Some(Dual {
        bound: y.iter().sum::<f64>() / scale,
        prices,
    })
}

#[allow(clippy::needless_range_loop)]
/// Big-M tableau simplex on `min p·x, A x − s + art = 1`; returns the duals of the rows.
fn simplex_duals(cols: &[(Vec<f64>, f64)], k: usize) -> Vec<f64> {
    let n = cols.len();
    let max_p = cols.iter().map(|c| c.1).fold(1.0f64, f64::max);
    let big_m = max_p * 1e6;
    let width = n + 2 * k; // x, surplus, artificial
                           // rows: k constraint rows, each with rhs
    let mut t = vec![vec![0.0f64; width + 1]; k];
    for (j, (a, _)) in cols.iter().enumerate() {
        for i in 0..k {
            t[i][j] = a[i];
        }
    }
    for i in 0..k {
        t[i][n + i] = -1.0;
        t[i][n + k + i] = 1.0;
        t[i][width] = 1.0;
    }
    let cost = |j: usize| -> f64 {
        if j < n {
            cols[j].1
        } else if j < n + k {
            0.0
        } else {
            big_m
        }
    };
    let mut basis: Vec<usize> = (0..k).map(|i| n + k + i).collect();
    for _ in 0..10_000 {
        // reduced costs rc_j = c_j − c_B · column_j
        let mut enter = None;
        let mut best = -1e-12;
        for j in 0..width {
            let mut rc = cost(j);
            for i in 0..k {
                rc -= cost(basis[i]) * t[i][j];
            }
            if rc < best {
                best = rc;
                enter = Some(j);
            }
        }
        let Some(e) = enter else { break };
        let mut leave = None;
        let mut ratio = f64::INFINITY;
        for i in 0..k {
            if t[i][e] > 1e-12 {
                let r = t[i][width] / t[i][e];
                if r < ratio {
                    ratio = r;
                    leave = Some(i);
                }
            }
        }
        let Some(l) = leave else { break };
        let piv = t[l][e];
        for v in t[l].iter_mut() {
            *v /= piv;
        }
        for i in 0..k {
            if i != l {
                let f = t[i][e];
                if f != 0.0 {
                    for j in 0..=width {
                        t[i][j] -= f * t[l][j];
                    }
                }
            }
        }
        basis[l] = e;
    }
    // y_r = reduced cost of surplus column r = 0 − c_B · column(s_r)
    (0..k)
        .map(|r| {
            let mut rc = 0.0;
            for i in 0..k {
                rc -= cost(basis[i]) * t[i][n + r];
            }
            rc
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(alloc: &[f64], price: f64) -> Column {
        Column {
            alloc: alloc.to_vec(),
            price,
        }
    }

    #[test]
    fn single_type_bound_is_fractional_count_times_price() {
        // 10 cpu of demand, type has 4 cpu at $1: bound 2.5
        let b = lower_bound(&[col(&[4.0], 1.0)], &[10.0]).unwrap();
        assert!((b - 2.5).abs() < 1e-9, "{b}");
    }

    #[test]
    fn mixes_types_across_dimensions() {
        // cpu-heavy type (4 cpu, 1 mem, $1) and mem-heavy (1 cpu, 4 mem, $1), demand 5/5:
        // optimum x = (1, 1), price 2
        let b = lower_bound(&[col(&[4.0, 1.0], 1.0), col(&[1.0, 4.0], 1.0)], &[5.0, 5.0]).unwrap();
        assert!((b - 2.0).abs() < 1e-6, "{b}");
    }

    #[test]
    fn bound_never_exceeds_any_integral_cover() {
        let cols = vec![
            col(&[2.0, 8.0, 29.0], 0.096),
            col(&[4.0, 16.0, 58.0], 0.192),
            col(&[2.0, 4.0, 29.0], 0.085),
            col(&[8.0, 16.0, 58.0], 0.34),
        ];
        let demand = [7.3, 20.0, 40.0];
        let b = lower_bound(&cols, &demand).unwrap();
        // brute force integral covers up to 6 of each
        let mut best = f64::INFINITY;
        for a in 0..6 {
            for bb in 0..6 {
                for c in 0..6 {
                    for d in 0..6 {
                        let x = [a as f64, bb as f64, c as f64, d as f64];
                        let ok = (0..3).all(|r| {
                            cols.iter()
                                .zip(&x)
                                .map(|(c, x)| c.alloc[r] * x)
                                .sum::<f64>()
                                >= demand[r]
                        });
                        if ok {
                            let p: f64 = cols.iter().zip(&x).map(|(c, x)| c.price * x).sum();
                            best = best.min(p);
                        }
                    }
                }
            }
        }
        assert!(b <= best + 1e-12, "bound {b} > integral {best}");
        assert!(b > 0.5 * best, "bound {b} is uselessly weak against {best}");
    }

    #[test]
    fn no_supplier_for_a_dimension_is_none() {
        assert!(lower_bound(&[col(&[1.0, 0.0], 1.0)], &[1.0, 1.0]).is_none());
        assert_eq!(lower_bound(&[col(&[1.0], 1.0)], &[0.0]), Some(0.0));
    }
}
