//! Shared helpers for integration tests. One module per helper.
pub mod moto;
pub mod run_world;

use std::path::{Path, PathBuf};

/// `../shared` beside the repository (CI clones the repository with `shared/` next to it), found by walking
/// up from this package's manifest directory.
pub fn shared_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .map(|dir| dir.join("../shared"))
        .find(|candidate| candidate.is_dir())
        .unwrap_or_else(|| {
            panic!(
                "cannot find ../shared next to the repository (looked upwards from {}); clone `shared/` \
                 beside the repository",
                manifest.display()
            )
        })
}
