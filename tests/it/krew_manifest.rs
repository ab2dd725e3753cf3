//! krew-manifest.yaml is a krew-release-bot template; rendered for a tag, it must be a valid krew Plugin.
use serde_json::Value;

const TAG: &str = "v0.1.0";
const DIGEST: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Render the two template directives the release bot understands.
fn render(template: &str) -> String {
    let mut out = String::new();
    for line in template.lines() {
        let line = line.replace("{{ .TagName }}", TAG);
        if let Some(start) = line.find("{{addURIAndSha \"") {
            let indent = &line[..start];
            let rest = &line[start + "{{addURIAndSha \"".len()..];
            let url = &rest[..rest.find('"').expect("closing quote")];
            out.push_str(&format!(
                "{indent}uri: {url}\n{indent}sha256: \"{DIGEST}\"\n"
            ));
        } else {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

fn manifest() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/krew-manifest.yaml");
    let text = std::fs::read_to_string(path).expect("krew-manifest.yaml exists");
    serde_saphyr::from_str(&render(&text)).expect("rendered manifest is YAML")
}

#[test]
fn manifest_is_a_krew_plugin_named_karpenter() {
    let m = manifest();
    assert_eq!(
        m["apiVersion"],
        "krew.googlecontainertools.github.com/v1alpha2"
    );
    assert_eq!(m["kind"], "Plugin");
    assert_eq!(m["metadata"]["name"], "karpenter");
    let spec = &m["spec"];
    assert_eq!(spec["version"], TAG);
    for field in ["homepage", "shortDescription", "description", "caveats"] {
        let text = spec[field].as_str().unwrap_or_default();
        assert!(!text.trim().is_empty(), "spec.{field} is required");
    }
    assert!(spec["shortDescription"].as_str().unwrap().len() <= 80);
}

#[test]
fn every_platform_has_a_versioned_uri_digest_and_the_binary() {
    let m = manifest();
    let platforms = m["spec"]["platforms"].as_array().expect("platforms");
    let mut seen = Vec::new();
    for p in platforms {
        let labels = &p["selector"]["matchLabels"];
        let (os, arch) = (
            labels["os"].as_str().unwrap(),
            labels["arch"].as_str().unwrap(),
        );
        seen.push(format!("{os}/{arch}"));
        let uri = p["uri"].as_str().expect("uri");
        assert!(
            uri.starts_with("https://") && uri.contains(&format!("/download/{TAG}/")),
            "{uri}"
        );
        assert!(uri.ends_with(".tar.gz"), "{uri}");
        let sha = p["sha256"].as_str().expect("sha256");
        assert!(sha.len() == 64 && sha.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(p["bin"], "kubectl-karpenter");
        let files: Vec<&str> = p["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["from"].as_str().unwrap())
            .collect();
        assert!(
            files.contains(&"LICENSE"),
            "the license ships in the archive"
        );
    }
    seen.sort();
    assert_eq!(
        seen,
        ["darwin/amd64", "darwin/arm64", "linux/amd64", "linux/arm64"]
    );
}
