//! Shared helpers for integration tests. One module per helper.
pub mod moto;
