//! Application-level retries for [`AwsError::Retryable`] failures, on top of the SDK's own.
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use super::AwsError;

/// Exponential backoff with full jitter: attempt `n` (from 1) waits a random time in
/// `[0, min(cap, base * 2^(n-1))]` before attempt `n + 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Total attempts, including the first (at least 1).
    pub max_attempts: u32,
    /// Upper bound of the first wait.
    pub base: Duration,
    /// Upper bound of any wait.
    pub cap: Duration,
}

impl Backoff {
    /// `max_attempts` attempts with waits starting under 200 ms and capped at 20 s.
    pub fn new(max_attempts: u32) -> Self {
        Backoff {
            max_attempts,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(20),
        }
    }

    /// The wait after failed attempt `attempt` (1-based), for a jitter fraction in `[0, 1]`.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let ceiling = self
            .base
            .checked_mul(1u32 << exp)
            .unwrap_or(self.cap)
            .min(self.cap);
        ceiling.mul_f64(jitter.clamp(0.0, 1.0))
    }
}

/// A jitter fraction in `[0, 1)` from the standard library's randomly seeded hasher.
fn jitter() -> f64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Run `op` up to `max_attempts` times while it fails with [`AwsError::Retryable`], waiting
/// with exponential backoff and jitter between attempts. Other errors return at once.
pub async fn with_backoff<T, F, Fut>(max_attempts: u32, op: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AwsError>>,
{
    with_backoff_policy(Backoff::new(max_attempts), op).await
}

/// [`with_backoff`] with an explicit [`Backoff`] policy.
pub async fn with_backoff_policy<T, F, Fut>(policy: Backoff, mut op: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AwsError>>,
{
    let max = policy.max_attempts.max(1);
    let mut attempt = 1;
    loop {
        match op().await {
            Err(err) if err.is_retryable() && attempt < max => {
                let wait = policy.delay(attempt, jitter());
                tracing::debug!(attempt, ?wait, error = %err, "retrying AWS call");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn throttled() -> AwsError {
        AwsError::Retryable {
            action: "ec2:DescribeInstances".into(),
            code: "RequestLimitExceeded".into(),
            message: "slow down".into(),
        }
    }

    fn fast(max_attempts: u32) -> Backoff {
        Backoff {
            max_attempts,
            base: Duration::from_millis(1),
            cap: Duration::from_millis(4),
        }
    }

    #[test]
    fn delay_grows_exponentially_and_is_capped() {
        let b = Backoff::new(10);
        assert_eq!(b.delay(1, 1.0), Duration::from_millis(200));
        assert_eq!(b.delay(2, 1.0), Duration::from_millis(400));
        assert_eq!(b.delay(4, 1.0), Duration::from_millis(1600));
        assert_eq!(b.delay(20, 1.0), Duration::from_secs(20));
        assert_eq!(b.delay(u32::MAX, 1.0), Duration::from_secs(20));
        assert_eq!(b.delay(3, 0.5), Duration::from_millis(400));
        assert_eq!(b.delay(3, 0.0), Duration::ZERO);
    }

    #[test]
    fn jitter_is_a_fraction() {
        for _ in 0..1000 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j), "{j}");
        }
    }

    #[tokio::test]
    async fn retries_retryable_errors_until_success() {
        let calls = AtomicU32::new(0);
        let out = with_backoff_policy(fast(5), || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(throttled())
            } else {
                Ok(42)
            }
        })
        .await;
        assert_eq!(out.expect("third attempt succeeds"), 42);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts_with_the_last_error() {
        let calls = AtomicU32::new(0);
        let out: Result<(), _> = with_backoff_policy(fast(3), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(throttled())
        })
        .await;
        assert!(out.expect_err("always throttled").is_retryable());
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn does_not_retry_other_errors() {
        let calls = AtomicU32::new(0);
        let out: Result<(), _> = with_backoff_policy(fast(5), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(AwsError::NotFound {
                action: "iam:GetRole".into(),
                code: "NoSuchEntity".into(),
                message: "no role".into(),
            })
        })
        .await;
        assert!(out.expect_err("not found").is_not_found());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    proptest::proptest! {
        #[test]
        fn delay_never_exceeds_the_cap_or_the_exponential_bound(
            attempt in 0u32..200,
            jitter in 0.0f64..=1.0,
            base_ms in 1u64..2_000,
            cap_ms in 1u64..60_000,
        ) {
            let b = Backoff {
                max_attempts: 10,
                base: Duration::from_millis(base_ms),
                cap: Duration::from_millis(cap_ms),
            };
            let d = b.delay(attempt, jitter);
            proptest::prop_assert!(d <= b.cap);
            let exp = 2f64.powi(attempt.saturating_sub(1).min(30) as i32);
            proptest::prop_assert!(d.as_secs_f64() <= b.base.as_secs_f64() * exp + 1e-9);
        }
    }
}
