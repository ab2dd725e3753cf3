//! User data per AMI family (karpenter-aws.md §7): AL2023 nodeadm `NodeConfig` in MIME
//! multipart, Bottlerocket TOML, AL2 `bootstrap.sh` in MIME multipart. Custom passes the
//! user's data through unchanged.
use std::collections::BTreeMap;
use std::fmt::Write as _;

use karpenter_scheduling::instancetype::AmiFamily;

/// MIME boundary upstream uses.
pub const BOUNDARY: &str = "//";

/// A taint to register the node with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeTaint {
    /// Key.
    pub key: String,
    /// Value (may be empty).
    pub value: String,
    /// `NoSchedule`, `PreferNoSchedule`, `NoExecute`.
    pub effect: String,
}

/// Everything the bootstrap needs.
#[derive(Debug, Clone, PartialEq)]
pub struct BootstrapOptions {
    /// EKS cluster name.
    pub cluster_name: String,
    /// API server endpoint nodes join.
    pub cluster_endpoint: String,
    /// Base64 cluster CA bundle.
    pub ca_bundle: String,
    /// Service CIDR (AL2023 `cidr`), e.g. `10.100.0.0/16`.
    pub service_cidr: Option<String>,
    /// Cluster DNS IP.
    pub cluster_dns: Option<String>,
    /// kubelet maxPods.
    pub max_pods: Option<i64>,
    /// Node labels (Karpenter adds `karpenter.sh/do-not-sync-taints=true` for non-Custom).
    pub labels: BTreeMap<String, String>,
    /// Taints (`karpenter.sh/unregistered:NoExecute` is always added).
    pub taints: Vec<NodeTaint>,
    /// kubeReserved entries, e.g. `cpu=70m`.
    pub kube_reserved: BTreeMap<String, String>,
    /// evictionHard entries, e.g. `memory.available=100Mi`.
    pub eviction_hard: BTreeMap<String, String>,
    /// The EC2NodeClass `spec.userData`.
    pub custom_user_data: Option<String>,
}

/// Errors rendering user data.
#[derive(Debug, thiserror::Error)]
pub enum UserDataError {
    /// The user's data cannot be merged.
    #[error("EC2NodeClass spec.userData: {0}")]
    Invalid(String),
}

const UNREGISTERED: &str = "karpenter.sh/unregistered";

fn taints_with_unregistered(o: &BootstrapOptions) -> Vec<NodeTaint> {
    let mut t = o.taints.clone();
    if !t.iter().any(|x| x.key == UNREGISTERED) {
        t.push(NodeTaint {
            key: UNREGISTERED.into(),
            value: String::new(),
            effect: "NoExecute".into(),
        });
    }
    t
}

/// Labels passed to kubelet: restricted `kubernetes.io`/`k8s.io` labels are dropped, except
/// the kubelet-settable ones under `node.kubernetes.io` and `kubelet.kubernetes.io`.
fn kubelet_labels(o: &BootstrapOptions, family: AmiFamily) -> BTreeMap<String, String> {
    let mut l: BTreeMap<String, String> = o
        .labels
        .iter()
        .filter(|(k, _)| {
            let domain = k.split_once('/').map(|(d, _)| d).unwrap_or("");
            let restricted = domain.ends_with("kubernetes.io") || domain.ends_with("k8s.io");
            let allowed = domain == "node.kubernetes.io"
                || domain == "kubelet.kubernetes.io"
                || domain.ends_with(".node.kubernetes.io")
                || domain.ends_with(".kubelet.kubernetes.io");
            !restricted || allowed
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if family != AmiFamily::Custom {
        l.insert(
            karpenter_api::labels::DO_NOT_SYNC_TAINTS.to_string(),
            "true".into(),
        );
    }
    l
}

fn join_labels(l: &BTreeMap<String, String>) -> String {
    l.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn join_taints(t: &[NodeTaint]) -> String {
    t.iter()
        .map(|t| {
            if t.value.is_empty() {
                format!("{}:{}", t.key, t.effect)
            } else {
                format!("{}={}:{}", t.key, t.value, t.effect)
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn join_map(m: &BTreeMap<String, String>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Render the user data (plain text; base64 it for the launch template).
pub fn render(family: AmiFamily, o: &BootstrapOptions) -> Result<String, UserDataError> {
    match family {
        AmiFamily::AL2023 => Ok(al2023(o)),
        AmiFamily::AL2 => Ok(al2(o)),
        AmiFamily::Bottlerocket => bottlerocket(o),
        AmiFamily::Custom => Ok(o.custom_user_data.clone().unwrap_or_default()),
        AmiFamily::Windows => Err(UserDataError::Invalid(
            "Windows families are not supported by this build".into(),
        )),
    }
}

/// The MIME parts of user-supplied data: a MIME document's parts as-is, a NodeConfig as an
/// `application/node.eks.aws` part, anything else as a shell script part.
fn user_parts(custom: Option<&str>) -> Vec<String> {
    let Some(data) = custom.map(str::trim).filter(|d| !d.is_empty()) else {
        return Vec::new();
    };
    if data.starts_with("MIME-Version:") || data.contains("Content-Type: multipart/mixed") {
        // extract the boundary and split
        let boundary = data
            .split("boundary=")
            .nth(1)
            .map(|b| {
                b.trim_start_matches('"')
                    .split(['"', '\n', '\r'])
                    .next()
                    .unwrap_or(BOUNDARY)
                    .to_string()
            })
            .unwrap_or_else(|| BOUNDARY.to_string());
        let sep = format!("--{boundary}");
        return data
            .split(&sep)
            .skip(1)
            .map(|p| p.trim_matches(['\r', '\n']).to_string())
            .filter(|p| !p.is_empty() && p != "--")
            .collect();
    }
    let content_type = if data.contains("kind: NodeConfig") {
        "application/node.eks.aws"
    } else {
        "text/x-shellscript; charset=\"us-ascii\""
    };
    vec![format!("Content-Type: {content_type}\n\n{data}")]
}

fn mime(parts: &[String]) -> String {
    let mut s =
        format!("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"{BOUNDARY}\"\n\n");
    for p in parts {
        let _ = write!(s, "--{BOUNDARY}\n{p}\n\n");
    }
    let _ = writeln!(s, "--{BOUNDARY}--");
    s
}

fn al2023(o: &BootstrapOptions) -> String {
    let mut y = String::new();
    y.push_str("Content-Type: application/node.eks.aws\n\n");
    y.push_str("apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  cluster:\n");
    let _ = writeln!(y, "    apiServerEndpoint: {}", o.cluster_endpoint);
    let _ = writeln!(y, "    certificateAuthority: {}", o.ca_bundle);
    if let Some(c) = &o.service_cidr {
        let _ = writeln!(y, "    cidr: {c}");
    }
    let _ = writeln!(y, "    name: {}", o.cluster_name);
    y.push_str("  kubelet:\n    config:\n");
    if let Some(dns) = &o.cluster_dns {
        let _ = writeln!(y, "      clusterDNS:\n      - {dns}");
    }
    if !o.eviction_hard.is_empty() {
        y.push_str("      evictionHard:\n");
        for (k, v) in &o.eviction_hard {
            let _ = writeln!(y, "        {k}: {v}");
        }
    }
    if !o.kube_reserved.is_empty() {
        y.push_str("      kubeReserved:\n");
        for (k, v) in &o.kube_reserved {
            let _ = writeln!(y, "        {k}: {v}");
        }
    }
    if let Some(m) = o.max_pods {
        let _ = writeln!(y, "      maxPods: {m}");
    }
    y.push_str("      registerWithTaints:\n");
    for t in taints_with_unregistered(o) {
        let _ = writeln!(y, "      - effect: {}\n        key: {}", t.effect, t.key);
        if !t.value.is_empty() {
            let _ = writeln!(y, "        value: {}", t.value);
        }
    }
    y.push_str("    flags:\n");
    let _ = write!(
        y,
        "    - --node-labels=\"{}\"",
        join_labels(&kubelet_labels(o, AmiFamily::AL2023))
    );
    // nodeadm merges later documents over earlier ones: Karpenter's goes last so it wins.
    let mut parts = user_parts(o.custom_user_data.as_deref());
    parts.push(y);
    mime(&parts)
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn al2(o: &BootstrapOptions) -> String {
    let mut args = vec![
        format!(
            "--node-labels=\"{}\"",
            join_labels(&kubelet_labels(o, AmiFamily::AL2))
        ),
        format!(
            "--register-with-taints=\"{}\"",
            join_taints(&taints_with_unregistered(o))
        ),
    ];
    if let Some(m) = o.max_pods {
        args.push(format!("--max-pods={m}"));
    }
    if !o.kube_reserved.is_empty() {
        args.push(format!("--kube-reserved={}", join_map(&o.kube_reserved)));
    }
    if !o.eviction_hard.is_empty() {
        let eh: Vec<String> = o
            .eviction_hard
            .iter()
            .map(|(k, v)| format!("{k}<{v}"))
            .collect();
        args.push(format!("--eviction-hard={}", eh.join(",")));
    }
    let mut s = String::from("Content-Type: text/x-shellscript; charset=\"us-ascii\"\n\n");
    s.push_str("#!/bin/bash -xe\n");
    s.push_str("exec > >(tee /var/log/user-data.log|logger -t user-data -s 2>/dev/console) 2>&1\n");
    let _ = write!(
        s,
        "/etc/eks/bootstrap.sh {} --apiserver-endpoint {} --b64-cluster-ca {}",
        shell_quote(&o.cluster_name),
        shell_quote(&o.cluster_endpoint),
        shell_quote(&o.ca_bundle)
    );
    if let Some(dns) = &o.cluster_dns {
        let _ = write!(s, " \\\n--dns-cluster-ip {}", shell_quote(dns));
    }
    s.push_str(" \\\n--use-max-pods false");
    let _ = write!(
        s,
        " \\\n--kubelet-extra-args {}",
        shell_quote(&args.join(" "))
    );
    let mut parts = user_parts(o.custom_user_data.as_deref());
    parts.push(s);
    mime(&parts)
}

fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn bottlerocket(o: &BootstrapOptions) -> Result<String, UserDataError> {
    let user = o.custom_user_data.as_deref().unwrap_or("").trim();
    if user.contains("[settings.kubernetes]")
        || user.contains("[settings.kubernetes.node-labels]")
        || user.contains("[settings.kubernetes.node-taints]")
    {
        return Err(UserDataError::Invalid(
            "merging a user [settings.kubernetes] table into Bottlerocket user data is not \
             supported by this build; move those settings into the EC2NodeClass (kubelet, \
             labels, taints) or drop them from userData"
                .into(),
        ));
    }
    let mut s = String::new();
    if !user.is_empty() {
        s.push_str(user);
        s.push_str("\n\n");
    }
    s.push_str("[settings.kubernetes]\n");
    let _ = writeln!(s, "api-server = {}", toml_str(&o.cluster_endpoint));
    let _ = writeln!(s, "cluster-certificate = {}", toml_str(&o.ca_bundle));
    let _ = writeln!(s, "cluster-name = {}", toml_str(&o.cluster_name));
    if let Some(dns) = &o.cluster_dns {
        let _ = writeln!(s, "cluster-dns-ip = {}", toml_str(dns));
    }
    if let Some(m) = o.max_pods {
        let _ = writeln!(s, "max-pods = {m}");
    }
    s.push_str("\n[settings.kubernetes.node-labels]\n");
    for (k, v) in kubelet_labels(o, AmiFamily::Bottlerocket) {
        let _ = writeln!(s, "{} = {}", toml_str(&k), toml_str(&v));
    }
    s.push_str("\n[settings.kubernetes.node-taints]\n");
    let mut taints: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for t in taints_with_unregistered(o) {
        let v = if t.value.is_empty() {
            t.effect.clone()
        } else {
            format!("{}:{}", t.value, t.effect)
        };
        taints.entry(t.key).or_default().push(v);
    }
    for (k, vs) in taints {
        let vs: Vec<String> = vs.iter().map(|v| toml_str(v)).collect();
        let _ = writeln!(s, "{} = [{}]", toml_str(&k), vs.join(", "));
    }
    if !o.kube_reserved.is_empty() {
        s.push_str("\n[settings.kubernetes.kube-reserved]\n");
        for (k, v) in &o.kube_reserved {
            let _ = writeln!(s, "{} = {}", toml_str(k), toml_str(v));
        }
    }
    if !o.eviction_hard.is_empty() {
        s.push_str("\n[settings.kubernetes.eviction-hard]\n");
        for (k, v) in &o.eviction_hard {
            let _ = writeln!(s, "{} = {}", toml_str(k), toml_str(v));
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> BootstrapOptions {
        BootstrapOptions {
            cluster_name: "demo".into(),
            cluster_endpoint: "https://ABC.gr7.us-west-2.eks.amazonaws.com".into(),
            ca_bundle: "Q0EK".into(),
            service_cidr: Some("10.100.0.0/16".into()),
            cluster_dns: Some("10.100.0.10".into()),
            max_pods: Some(29),
            labels: BTreeMap::from([
                ("karpenter.sh/nodepool".to_string(), "default".to_string()),
                ("kubernetes.io/hostname".to_string(), "x".to_string()),
                ("node.kubernetes.io/role".to_string(), "app".to_string()),
            ]),
            taints: vec![NodeTaint {
                key: "dedicated".into(),
                value: "gpu".into(),
                effect: "NoSchedule".into(),
            }],
            kube_reserved: BTreeMap::new(),
            eviction_hard: BTreeMap::new(),
            custom_user_data: None,
        }
    }

    #[test]
    fn al2023_golden() {
        let mut o = opts();
        o.custom_user_data = Some("#!/bin/bash\necho hello".into());
        let got = render(AmiFamily::AL2023, &o).unwrap();
        let want = r#"MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="//"

--//
Content-Type: text/x-shellscript; charset="us-ascii"

#!/bin/bash
echo hello

--//
Content-Type: application/node.eks.aws

apiVersion: node.eks.aws/v1alpha1
kind: NodeConfig
spec:
  cluster:
    apiServerEndpoint: https://ABC.gr7.us-west-2.eks.amazonaws.com
    certificateAuthority: Q0EK
    cidr: 10.100.0.0/16
    name: demo
  kubelet:
    config:
      clusterDNS:
      - 10.100.0.10
      maxPods: 29
      registerWithTaints:
      - effect: NoSchedule
        key: dedicated
        value: gpu
      - effect: NoExecute
        key: karpenter.sh/unregistered
    flags:
    - --node-labels="karpenter.sh/do-not-sync-taints=true,karpenter.sh/nodepool=default,node.kubernetes.io/role=app"

--//--
"#;
        assert_eq!(got, want);
    }

    #[test]
    fn al2_golden() {
        let got = render(AmiFamily::AL2, &opts()).unwrap();
        let want = r#"MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="//"

--//
Content-Type: text/x-shellscript; charset="us-ascii"

#!/bin/bash -xe
exec > >(tee /var/log/user-data.log|logger -t user-data -s 2>/dev/console) 2>&1
/etc/eks/bootstrap.sh 'demo' --apiserver-endpoint 'https://ABC.gr7.us-west-2.eks.amazonaws.com' --b64-cluster-ca 'Q0EK' \
--dns-cluster-ip '10.100.0.10' \
--use-max-pods false \
--kubelet-extra-args '--node-labels="karpenter.sh/do-not-sync-taints=true,karpenter.sh/nodepool=default,node.kubernetes.io/role=app" --register-with-taints="dedicated=gpu:NoSchedule,karpenter.sh/unregistered:NoExecute" --max-pods=29'

--//--
"#;
        assert_eq!(got, want);
    }

    #[test]
    fn bottlerocket_golden() {
        let mut o = opts();
        o.custom_user_data = Some("[settings.host-containers.admin]\nenabled = true".into());
        o.eviction_hard = BTreeMap::from([("memory.available".into(), "100Mi".into())]);
        let got = render(AmiFamily::Bottlerocket, &o).unwrap();
        let want = r#"[settings.host-containers.admin]
enabled = true

[settings.kubernetes]
api-server = "https://ABC.gr7.us-west-2.eks.amazonaws.com"
cluster-certificate = "Q0EK"
cluster-name = "demo"
cluster-dns-ip = "10.100.0.10"
max-pods = 29

[settings.kubernetes.node-labels]
"karpenter.sh/do-not-sync-taints" = "true"
"karpenter.sh/nodepool" = "default"
"node.kubernetes.io/role" = "app"

[settings.kubernetes.node-taints]
"dedicated" = ["gpu:NoSchedule"]
"karpenter.sh/unregistered" = ["NoExecute"]

[settings.kubernetes.eviction-hard]
"memory.available" = "100Mi"
"#;
        assert_eq!(got, want);
    }

    #[test]
    fn bottlerocket_refuses_a_conflicting_user_table() {
        let mut o = opts();
        o.custom_user_data = Some("[settings.kubernetes]\nmax-pods = 3".into());
        let err = render(AmiFamily::Bottlerocket, &o).unwrap_err().to_string();
        assert!(err.contains("spec.userData"), "{err}");
    }

    #[test]
    fn user_mime_parts_come_first_and_custom_is_verbatim() {
        let mut o = opts();
        o.custom_user_data = Some(
            "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"BOUND\"\n\n--BOUND\nContent-Type: text/x-shellscript\n\necho a\n--BOUND--\n"
                .into(),
        );
        let got = render(AmiFamily::AL2023, &o).unwrap();
        let a = got.find("echo a").unwrap();
        let k = got.find("kind: NodeConfig").unwrap();
        assert!(a < k);
        assert_eq!(got.matches("--//\n").count(), 2);
        o.custom_user_data = Some("anything".into());
        assert_eq!(render(AmiFamily::Custom, &o).unwrap(), "anything");
    }
}
