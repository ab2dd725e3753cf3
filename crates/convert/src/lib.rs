//! Conversions (work in progress).
