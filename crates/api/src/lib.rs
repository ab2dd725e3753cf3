//! Typed Karpenter API objects.
//!
//! - [`sh::v1alpha5`]: `Provisioner`, `Machine`; [`sh::v1beta1`] and [`sh::v1`]: `NodePool`, `NodeClaim`.
//! - [`aws::v1alpha1`]: `AWSNodeTemplate`; [`aws::v1beta1`] and [`aws::v1`]: `EC2NodeClass`.
//! - [`KarpenterObject`]: a dynamic entry point that picks the type from `apiVersion`/`kind`.
//! - [`labels`]: well-known label, annotation, taint and finalizer keys.
//! - [`selector`]: the label-selector parser and matcher.
//!
//! Every optional schema field is an `Option` skipped when `None`, so an object deserializes and re-serializes
//! without losing or gaining fields. Durations (`720h`, `Never`) stay strings; quantities stay
//! [`Quantity`](k8s_openapi::apimachinery::pkg::api::resource::Quantity) text.

pub mod aws;
pub mod common;
pub mod labels;
pub mod selector;
pub mod sh;

mod object;

pub use object::{ApiError, KarpenterObject};
