//! Offline conversion of Karpenter objects to `karpenter.sh/v1` + `karpenter.k8s.aws/v1`
//! (or to `v1beta1`, as upstream `karpenter-convert` did).
//!
//! The crate is pure: callers pass file contents in and get objects and warnings out.
//! - [`parse_documents`] splits multi-document YAML/JSON, flattens `List`s and strips the
//!   server-side fields that `kubectl get -o yaml` adds.
//! - [`convert`] maps Provisioner, AWSNodeTemplate and v1beta1 NodePool/EC2NodeClass/NodeClaim
//!   objects (see `convert-mapping.md` §3) and passes every other object through untouched.
//! - [`render`] prints the result deterministically (apiVersion, kind, metadata, spec first).
//!
//! Everything that cannot be carried over is reported as a [`Warning`]; inputs that cannot be
//! converted at all are reported as [`ObjectError`]s naming the file, document, object and field.
#![forbid(unsafe_code)]
// ObjectError carries its location, object and field by value (144 bytes); it is only built on
// the error path, once per bad object, so boxing it would only add noise.
#![allow(clippy::result_large_err)]

mod convert;
pub mod duration;
mod input;
mod kubelet;
mod nodeclass;
mod nodepool;
pub mod render;
mod schema;
pub mod selector;
mod util;
mod warning;

pub use convert::{convert, Conversion, Options, OutputObject, SchemaValidator, Target};
pub use input::{parse_documents, strip_server_fields, Document, Location, ParseError};
pub use schema::CrdValidator;
pub use warning::{ConvertErrors, ObjectError, Warning};
