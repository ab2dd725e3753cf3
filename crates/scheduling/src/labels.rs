//! Well-known label keys: re-exported from their one home, [`karpenter_api::labels`] (core
//! `pkg/apis/v1/labels.go` and the AWS provider's `pkg/apis/v1/labels.go`).

pub use karpenter_api::labels::*;
