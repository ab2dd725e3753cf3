//! Cloud adapters. `aws` talks to the real AWS APIs (or moto, through `AWS_ENDPOINT_URL`).
pub mod aws;
pub mod interruption;
pub mod provider;
