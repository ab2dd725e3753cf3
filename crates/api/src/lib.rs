//! Karpenter CRD types (work in progress).
