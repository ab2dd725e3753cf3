//! Scheduling engine (work in progress).
