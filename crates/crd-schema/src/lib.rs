//! CRD schema validation (work in progress).
