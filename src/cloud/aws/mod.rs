//! AWS SDK client construction and error mapping (work in progress).
