//! Conformance tests: the real kube-rs client against the double.

mod binding;
mod crud;
mod delete;
mod eviction;
mod faults;
mod in_process;
mod list;
mod patch;
mod schema;
mod update;
mod watch;

use kube::core::Status;

/// The `Status` of a failed kube call (panics with context when the call did not fail that way).
pub fn api_err<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> Status {
    match r {
        Err(kube::Error::Api(s)) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}
