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
    /// systemReserved entries (the EC2NodeClass's), e.g. `memory=100Mi`.
    pub system_reserved: BTreeMap<String, String>,
    /// evictionHard entries, e.g. `memory.available=100Mi`.
    pub eviction_hard: BTreeMap<String, String>,
    /// The EC2NodeClass `spec.userData`.
    pub custom_user_data: Option<String>,
    /// The rest of the EC2NodeClass kubelet settings, passed through unchanged.
    pub kubelet: KubeletPassThrough,
}

/// EC2NodeClass `spec.kubelet` settings that reach kubelet as they are.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KubeletPassThrough {
    /// `evictionSoft`, e.g. `memory.available=500Mi`.
    pub eviction_soft: BTreeMap<String, String>,
    /// `evictionSoftGracePeriod`, e.g. `memory.available=1m0s`.
    pub eviction_soft_grace_period: BTreeMap<String, String>,
    /// `evictionMaxPodGracePeriod` (seconds).
    pub eviction_max_pod_grace_period: Option<i32>,
    /// `imageGCHighThresholdPercent`.
    pub image_gc_high_threshold_percent: Option<i32>,
    /// `imageGCLowThresholdPercent`.
    pub image_gc_low_threshold_percent: Option<i32>,
    /// `cpuCFSQuota`.
    pub cpu_cfs_quota: Option<bool>,
}

/// Errors rendering user data.
#[derive(Debug, thiserror::Error)]
pub enum UserDataError {
    /// The user's data cannot be merged.
    #[error("EC2NodeClass spec.userData: {0}")]
    Invalid(String),
}

use karpenter_api::labels::UNREGISTERED_TAINT_KEY as UNREGISTERED;

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

/// A YAML double-quoted scalar (JSON string syntax), so values such as `true`, `1234` or `10%`
/// stay strings when nodeadm parses the NodeConfig.
fn yaml_str(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn al2023(o: &BootstrapOptions) -> String {
    let q = yaml_str;
    let mut y = String::new();
    y.push_str("Content-Type: application/node.eks.aws\n\n");
    y.push_str("apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  cluster:\n");
    let _ = writeln!(y, "    apiServerEndpoint: {}", q(&o.cluster_endpoint));
    let _ = writeln!(y, "    certificateAuthority: {}", q(&o.ca_bundle));
    if let Some(c) = &o.service_cidr {
        let _ = writeln!(y, "    cidr: {}", q(c));
    }
    let _ = writeln!(y, "    name: {}", q(&o.cluster_name));
    y.push_str("  kubelet:\n    config:\n");
    if let Some(dns) = &o.cluster_dns {
        let _ = writeln!(y, "      clusterDNS:\n      - {}", q(dns));
    }
    if !o.eviction_hard.is_empty() {
        y.push_str("      evictionHard:\n");
        for (k, v) in &o.eviction_hard {
            let _ = writeln!(y, "        {}: {}", q(k), q(v));
        }
    }
    if !o.kube_reserved.is_empty() {
        y.push_str("      kubeReserved:\n");
        for (k, v) in &o.kube_reserved {
            let _ = writeln!(y, "        {}: {}", q(k), q(v));
        }
    }
    if let Some(m) = o.max_pods {
        let _ = writeln!(y, "      maxPods: {m}");
    }
    if !o.system_reserved.is_empty() {
        y.push_str("      systemReserved:\n");
        for (k, v) in &o.system_reserved {
            let _ = writeln!(y, "        {}: {}", q(k), q(v));
        }
    }
    let k = &o.kubelet;
    if let Some(b) = k.cpu_cfs_quota {
        let _ = writeln!(y, "      cpuCFSQuota: {b}");
    }
    if let Some(n) = k.eviction_max_pod_grace_period {
        let _ = writeln!(y, "      evictionMaxPodGracePeriod: {n}");
    }
    for (name, m) in [
        ("evictionSoft", &k.eviction_soft),
        ("evictionSoftGracePeriod", &k.eviction_soft_grace_period),
    ] {
        if !m.is_empty() {
            let _ = writeln!(y, "      {name}:");
            for (key, v) in m {
                let _ = writeln!(y, "        {}: {}", q(key), q(v));
            }
        }
    }
    if let Some(n) = k.image_gc_high_threshold_percent {
        let _ = writeln!(y, "      imageGCHighThresholdPercent: {n}");
    }
    if let Some(n) = k.image_gc_low_threshold_percent {
        let _ = writeln!(y, "      imageGCLowThresholdPercent: {n}");
    }
    y.push_str("      registerWithTaints:\n");
    for t in taints_with_unregistered(o) {
        let _ = writeln!(
            y,
            "      - effect: {}\n        key: {}",
            q(&t.effect),
            q(&t.key)
        );
        if !t.value.is_empty() {
            let _ = writeln!(y, "        value: {}", q(&t.value));
        }
    }
    y.push_str("    flags:\n");
    let _ = write!(
        y,
        "    - {}",
        q(&format!(
            "--node-labels=\"{}\"",
            join_labels(&kubelet_labels(o, AmiFamily::AL2023))
        ))
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
    if !o.system_reserved.is_empty() {
        args.push(format!(
            "--system-reserved={}",
            join_map(&o.system_reserved)
        ));
    }
    if !o.eviction_hard.is_empty() {
        let eh: Vec<String> = o
            .eviction_hard
            .iter()
            .map(|(k, v)| format!("{k}<{v}"))
            .collect();
        args.push(format!("--eviction-hard={}", eh.join(",")));
    }
    let k = &o.kubelet;
    if !k.eviction_soft.is_empty() {
        let es: Vec<String> = k
            .eviction_soft
            .iter()
            .map(|(key, v)| format!("{key}<{v}"))
            .collect();
        args.push(format!("--eviction-soft={}", es.join(",")));
    }
    if !k.eviction_soft_grace_period.is_empty() {
        args.push(format!(
            "--eviction-soft-grace-period={}",
            join_map(&k.eviction_soft_grace_period)
        ));
    }
    if let Some(n) = k.eviction_max_pod_grace_period {
        args.push(format!("--eviction-max-pod-grace-period={n}"));
    }
    if let Some(n) = k.image_gc_high_threshold_percent {
        args.push(format!("--image-gc-high-threshold={n}"));
    }
    if let Some(n) = k.image_gc_low_threshold_percent {
        args.push(format!("--image-gc-low-threshold={n}"));
    }
    if let Some(b) = k.cpu_cfs_quota {
        args.push(format!("--cpu-cfs-quota={b}"));
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

/// Whether Bottlerocket TOML sets anything under `settings.kubernetes` (a table header, a
/// dotted key, or an inline table), which Karpenter's own `[settings.kubernetes]` would collide with.
fn defines_kubernetes_settings(toml: &str) -> bool {
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_whitespace() && *c != '"' && *c != '\'')
            .collect()
    };
    let under =
        |path: &str| path == "settings.kubernetes" || path.starts_with("settings.kubernetes.");
    let mut table = String::new();
    for line in toml.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            table = norm(line.trim_start_matches('[').split(']').next().unwrap_or(""));
            if under(&table) {
                return true;
            }
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = norm(key);
        let path = if table.is_empty() {
            key
        } else {
            format!("{table}.{key}")
        };
        if under(&path)
            || ((path == "settings" || path == "settings.kubernetes")
                && value.contains("kubernetes"))
        {
            return true;
        }
    }
    false
}

fn bottlerocket(o: &BootstrapOptions) -> Result<String, UserDataError> {
    let user = o.custom_user_data.as_deref().unwrap_or("").trim();
    if defines_kubernetes_settings(user) {
        return Err(UserDataError::Invalid(
            "merging user settings under [settings.kubernetes] into Bottlerocket user data is \
             not supported by this build; move those settings into the EC2NodeClass (kubelet, \
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
    let k = &o.kubelet;
    if let Some(n) = k.eviction_max_pod_grace_period {
        let _ = writeln!(s, "eviction-max-pod-grace-period = {n}");
    }
    if let Some(n) = k.image_gc_high_threshold_percent {
        let _ = writeln!(
            s,
            "image-gc-high-threshold-percent = {}",
            toml_str(&n.to_string())
        );
    }
    if let Some(n) = k.image_gc_low_threshold_percent {
        let _ = writeln!(
            s,
            "image-gc-low-threshold-percent = {}",
            toml_str(&n.to_string())
        );
    }
    if let Some(b) = k.cpu_cfs_quota {
        let _ = writeln!(s, "cpu-cfs-quota-enforced = {b}");
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
    if !o.system_reserved.is_empty() {
        s.push_str("\n[settings.kubernetes.system-reserved]\n");
        for (k, v) in &o.system_reserved {
            let _ = writeln!(s, "{} = {}", toml_str(k), toml_str(v));
        }
    }
    for (table, m) in [
        ("eviction-hard", &o.eviction_hard),
        ("eviction-soft", &k.eviction_soft),
        ("eviction-soft-grace-period", &k.eviction_soft_grace_period),
    ] {
        if !m.is_empty() {
            let _ = writeln!(s, "\n[settings.kubernetes.{table}]");
            for (key, v) in m {
                let _ = writeln!(s, "{} = {}", toml_str(key), toml_str(v));
            }
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
            system_reserved: BTreeMap::new(),
            eviction_hard: BTreeMap::new(),
            custom_user_data: None,
            kubelet: KubeletPassThrough::default(),
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
    apiServerEndpoint: "https://ABC.gr7.us-west-2.eks.amazonaws.com"
    certificateAuthority: "Q0EK"
    cidr: "10.100.0.0/16"
    name: "demo"
  kubelet:
    config:
      clusterDNS:
      - "10.100.0.10"
      maxPods: 29
      registerWithTaints:
      - effect: "NoSchedule"
        key: "dedicated"
        value: "gpu"
      - effect: "NoExecute"
        key: "karpenter.sh/unregistered"
    flags:
    - "--node-labels=\"karpenter.sh/do-not-sync-taints=true,karpenter.sh/nodepool=default,node.kubernetes.io/role=app\""

--//--
"#;
        assert_eq!(got, want);
    }

    /// The NodeConfig document of rendered AL2023 user data, parsed as nodeadm parses it.
    fn nodeconfig(user_data: &str) -> serde_json::Value {
        let doc = user_data
            .split("--//")
            .find_map(|p| p.split_once("Content-Type: application/node.eks.aws\n\n"))
            .map(|(_, d)| d)
            .expect("a NodeConfig part");
        serde_saphyr::from_str(doc).expect("NodeConfig is YAML")
    }

    #[test]
    fn al2023_values_that_look_like_yaml_scalars_stay_strings() {
        let mut o = opts();
        o.cluster_name = "1234".into();
        o.taints = vec![NodeTaint {
            key: "nvidia.com/gpu".into(),
            value: "true".into(),
            effect: "NoSchedule".into(),
        }];
        o.eviction_hard = BTreeMap::from([("nodefs.available".into(), "10%".into())]);
        let nc = nodeconfig(&render(AmiFamily::AL2023, &o).unwrap());
        assert_eq!(nc["spec"]["cluster"]["name"], serde_json::json!("1234"));
        let taints = &nc["spec"]["kubelet"]["config"]["registerWithTaints"];
        assert_eq!(
            taints[0],
            serde_json::json!({"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"})
        );
        assert_eq!(
            taints[1],
            serde_json::json!({"key": "karpenter.sh/unregistered", "effect": "NoExecute"})
        );
        assert_eq!(
            nc["spec"]["kubelet"]["config"]["evictionHard"]["nodefs.available"],
            serde_json::json!("10%")
        );
        assert_eq!(
            nc["spec"]["kubelet"]["config"]["maxPods"],
            serde_json::json!(29)
        );
    }

    #[test]
    fn every_nodeclass_kubelet_setting_reaches_kubelet() {
        let mut o = opts();
        o.system_reserved = BTreeMap::from([("cpu".into(), "100m".into())]);
        o.kubelet = KubeletPassThrough {
            eviction_soft: BTreeMap::from([("memory.available".into(), "500Mi".into())]),
            eviction_soft_grace_period: BTreeMap::from([(
                "memory.available".into(),
                "1m0s".into(),
            )]),
            eviction_max_pod_grace_period: Some(60),
            image_gc_high_threshold_percent: Some(85),
            image_gc_low_threshold_percent: Some(80),
            cpu_cfs_quota: Some(false),
        };
        let nc = nodeconfig(&render(AmiFamily::AL2023, &o).unwrap());
        let c = &nc["spec"]["kubelet"]["config"];
        assert_eq!(c["systemReserved"], serde_json::json!({"cpu": "100m"}));
        assert_eq!(
            c["evictionSoft"],
            serde_json::json!({"memory.available": "500Mi"})
        );
        assert_eq!(
            c["evictionSoftGracePeriod"],
            serde_json::json!({"memory.available": "1m0s"})
        );
        assert_eq!(c["evictionMaxPodGracePeriod"], serde_json::json!(60));
        assert_eq!(c["imageGCHighThresholdPercent"], serde_json::json!(85));
        assert_eq!(c["imageGCLowThresholdPercent"], serde_json::json!(80));
        assert_eq!(c["cpuCFSQuota"], serde_json::json!(false));

        let al2 = render(AmiFamily::AL2, &o).unwrap();
        for flag in [
            "--system-reserved=cpu=100m",
            "--eviction-soft=memory.available<500Mi",
            "--eviction-soft-grace-period=memory.available=1m0s",
            "--eviction-max-pod-grace-period=60",
            "--image-gc-high-threshold=85",
            "--image-gc-low-threshold=80",
            "--cpu-cfs-quota=false",
        ] {
            assert!(al2.contains(flag), "AL2 lacks {flag}:\n{al2}");
        }

        let br = render(AmiFamily::Bottlerocket, &o).unwrap();
        for line in [
            "eviction-max-pod-grace-period = 60\n",
            "image-gc-high-threshold-percent = \"85\"\n",
            "image-gc-low-threshold-percent = \"80\"\n",
            "cpu-cfs-quota-enforced = false\n",
            "[settings.kubernetes.system-reserved]\n\"cpu\" = \"100m\"\n",
            "[settings.kubernetes.eviction-soft]\n\"memory.available\" = \"500Mi\"\n",
            "[settings.kubernetes.eviction-soft-grace-period]\n\"memory.available\" = \"1m0s\"\n",
        ] {
            assert!(br.contains(line), "Bottlerocket lacks {line:?}:\n{br}");
        }
        // scalar settings stay in [settings.kubernetes], before the first sub-table
        assert!(
            br.find("cpu-cfs-quota-enforced").unwrap()
                < br.find("[settings.kubernetes.node-labels]").unwrap()
        );
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
        // any table or dotted key under settings.kubernetes would collide with Karpenter's
        // (a duplicate TOML table is a boot failure, not a merge)
        for user in [
            "[settings.kubernetes.kube-reserved]\nmemory = \"1Gi\"",
            "[settings.kubernetes.eviction-hard]\n\"memory.available\" = \"5%\"",
            "settings.kubernetes.max-pods = 3",
            "[settings]\nkubernetes.cluster-name = \"x\"",
            "[ settings.kubernetes ]\nkube-api-qps = 30",
        ] {
            o.custom_user_data = Some(user.into());
            assert!(
                render(AmiFamily::Bottlerocket, &o).is_err(),
                "accepted {user:?}"
            );
        }
        o.custom_user_data =
            Some("[settings.kernel.sysctl]\n\"vm.max_map_count\" = \"262144\"".into());
        assert!(render(AmiFamily::Bottlerocket, &o).is_ok());
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
