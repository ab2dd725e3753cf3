//! Resource definitions served by the double (built-in kinds and Karpenter CRDs).

/// One served resource (a group/plural), possibly at several versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceDef {
    /// API group; `""` for the core group.
    pub group: String,
    /// Served versions, preferred (storage) version first; a definition without versions is
    /// ignored by the builder.
    pub versions: Vec<String>,
    /// Kind, e.g. `NodePool`.
    pub kind: String,
    /// Plural resource name, e.g. `nodepools`.
    pub plural: String,
    /// Singular name, e.g. `nodepool`.
    pub singular: String,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names for discovery (`np`).
    pub short_names: Vec<String>,
    /// Whether the `status` subresource is served (PUT on the main resource ignores `.status`).
    pub status_subresource: bool,
    /// Whether this is a custom resource (strategic merge patch is rejected with 415).
    pub custom: bool,
    /// Extra field-selector paths beyond `metadata.name`/`metadata.namespace`.
    pub field_selectors: Vec<String>,
    /// Whether `status` is dropped (reset) when the object is created over HTTP.
    pub reset_status_on_create: bool,
    /// Discovery categories (e.g. `karpenter`).
    pub categories: Vec<String>,
}

impl ResourceDef {
    /// A new definition with defaults: one version, no status subresource, built-in.
    pub fn new(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) -> Self {
        ResourceDef {
            group: group.to_string(),
            versions: vec![version.to_string()],
            kind: kind.to_string(),
            plural: plural.to_string(),
            singular: kind.to_ascii_lowercase(),
            namespaced,
            short_names: Vec::new(),
            status_subresource: false,
            custom: false,
            field_selectors: Vec::new(),
            reset_status_on_create: false,
            categories: Vec::new(),
        }
    }

    /// A custom resource (CRD): status subresource, status reset on create, no strategic merge.
    pub fn custom(
        group: &str,
        versions: &[&str],
        kind: &str,
        plural: &str,
        namespaced: bool,
    ) -> Self {
        let first = versions.first().copied().unwrap_or("v1");
        let mut d = ResourceDef::new(group, first, kind, plural, namespaced);
        d.versions = versions.iter().map(|v| v.to_string()).collect();
        d.custom = true;
        d.status_subresource = true;
        d.reset_status_on_create = true;
        d
    }

    /// Adds short names.
    pub fn short(mut self, names: &[&str]) -> Self {
        self.short_names = names.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Enables the status subresource.
    pub fn with_status(mut self) -> Self {
        self.status_subresource = true;
        self
    }

    /// Adds supported field selectors.
    pub fn fields(mut self, fields: &[&str]) -> Self {
        self.field_selectors = fields.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Drops `.status` on create.
    pub fn reset_status(mut self) -> Self {
        self.reset_status_on_create = true;
        self
    }

    /// Adds discovery categories.
    pub fn categories(mut self, cats: &[&str]) -> Self {
        self.categories = cats.iter().map(|s| s.to_string()).collect();
        self
    }

    /// `pods` or `nodepools.karpenter.sh`: the name used in error messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `v1` or `karpenter.sh/v1` for the given version.
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{}", self.group, version)
        }
    }

    /// Whether `version` is served.
    pub fn serves(&self, version: &str) -> bool {
        self.versions.iter().any(|v| v == version)
    }

    /// The subresources served (for discovery).
    pub fn subresources(&self) -> Vec<&'static str> {
        let mut s = Vec::new();
        if self.status_subresource {
            s.push("status");
        }
        if self.group.is_empty() && self.plural == "pods" {
            s.push("eviction");
            s.push("binding");
        }
        s
    }
}

/// The built-in kinds of a real cluster that the double serves.
pub fn builtin_resources() -> Vec<ResourceDef> {
    vec![
        ResourceDef::new("", "v1", "Pod", "pods", true)
            .short(&["po"])
            .with_status()
            .reset_status()
            .fields(&[
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "status.phase",
                "status.podIP",
                "status.nominatedNodeName",
            ]),
        ResourceDef::new("", "v1", "Node", "nodes", false)
            .short(&["no"])
            .with_status()
            .fields(&["spec.unschedulable"]),
        ResourceDef::new("", "v1", "Namespace", "namespaces", false)
            .short(&["ns"])
            .with_status()
            .fields(&["status.phase"]),
        ResourceDef::new("", "v1", "ConfigMap", "configmaps", true).short(&["cm"]),
        ResourceDef::new("", "v1", "Secret", "secrets", true).fields(&["type"]),
        ResourceDef::new("", "v1", "ServiceAccount", "serviceaccounts", true).short(&["sa"]),
        ResourceDef::new("", "v1", "Event", "events", true)
            .short(&["ev"])
            .fields(&[
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "source",
                "type",
            ]),
        ResourceDef::new("", "v1", "PersistentVolume", "persistentvolumes", false)
            .short(&["pv"])
            .with_status(),
        ResourceDef::new(
            "",
            "v1",
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            true,
        )
        .short(&["pvc"])
        .with_status(),
        ResourceDef::new("apps", "v1", "DaemonSet", "daemonsets", true)
            .short(&["ds"])
            .with_status()
            .reset_status(),
        ResourceDef::new("apps", "v1", "Deployment", "deployments", true)
            .short(&["deploy"])
            .with_status()
            .reset_status(),
        ResourceDef::new(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            true,
        )
        .short(&["pdb"])
        .with_status()
        .reset_status(),
        ResourceDef::new("coordination.k8s.io", "v1", "Lease", "leases", true),
        ResourceDef::new("events.k8s.io", "v1", "Event", "events", true).short(&["ev"]),
        ResourceDef::new(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            "clusterroles",
            false,
        ),
        ResourceDef::new(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            false,
        ),
        ResourceDef::new("batch", "v1", "CronJob", "cronjobs", true)
            .short(&["cj"])
            .with_status()
            .reset_status(),
        ResourceDef::new(
            "storage.k8s.io",
            "v1",
            "StorageClass",
            "storageclasses",
            false,
        )
        .short(&["sc"]),
    ]
}

/// Every Karpenter kind (all cluster-scoped, all with the status subresource).
pub fn karpenter_resources() -> Vec<ResourceDef> {
    vec![
        ResourceDef::custom(
            "karpenter.sh",
            &["v1alpha5"],
            "Provisioner",
            "provisioners",
            false,
        )
        .categories(&["karpenter"]),
        ResourceDef::custom("karpenter.sh", &["v1alpha5"], "Machine", "machines", false)
            .categories(&["karpenter"]),
        ResourceDef::custom(
            "karpenter.sh",
            &["v1", "v1beta1"],
            "NodePool",
            "nodepools",
            false,
        )
        .categories(&["karpenter"]),
        ResourceDef::custom(
            "karpenter.sh",
            &["v1", "v1beta1"],
            "NodeClaim",
            "nodeclaims",
            false,
        )
        .categories(&["karpenter"]),
        ResourceDef::custom(
            "karpenter.k8s.aws",
            &["v1alpha1"],
            "AWSNodeTemplate",
            "awsnodetemplates",
            false,
        )
        .categories(&["karpenter"]),
        ResourceDef::custom(
            "karpenter.k8s.aws",
            &["v1", "v1beta1"],
            "EC2NodeClass",
            "ec2nodeclasses",
            false,
        )
        .short(&["ec2nc", "ec2ncs"])
        .categories(&["karpenter"]),
    ]
}
