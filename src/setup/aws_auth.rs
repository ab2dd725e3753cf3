//! `--node-access aws-auth`: the node role's `mapRoles` entry in `kube-system/aws-auth`, for clusters
//! whose authentication mode has no access entries (what `eksctl create iamidentitymapping` does).
//!
//! The pure half edits the `mapRoles` YAML; [`KubeAwsAuth`] wraps another [`Live`] and reads and
//! writes the ConfigMap through a Kubernetes client.
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::{json, Value};

use super::adopt::{StackInfo, Stacks};
use super::cluster::ClusterFacts;
use super::desired::Desired;
use super::live::{AwsAuthState, EksState, Live, LiveState, Operation, ReadScope};
use super::SetupError;

/// Username nodes map to.
pub const NODE_USERNAME: &str = "system:node:{{EC2PrivateDNSName}}";
/// Groups nodes map to.
pub const NODE_GROUPS: [&str; 2] = ["system:bootstrappers", "system:nodes"];
/// Namespace of the ConfigMap.
pub const NAMESPACE: &str = "kube-system";
/// Name of the ConfigMap.
pub const NAME: &str = "aws-auth";

fn parse(map_roles: &str) -> Result<Vec<Value>, SetupError> {
    if map_roles.trim().is_empty() {
        return Ok(vec![]);
    }
    serde_saphyr::from_str::<Vec<Value>>(map_roles).map_err(|e| SetupError::Malformed {
        what: "mapRoles in kube-system/aws-auth".into(),
        message: format!("not a YAML list: {e}"),
    })
}

fn render(entries: &[Value]) -> Result<String, SetupError> {
    serde_saphyr::to_string(&entries.to_vec()).map_err(|e| SetupError::Malformed {
        what: "mapRoles in kube-system/aws-auth".into(),
        message: e.to_string(),
    })
}

fn node_entry(role_arn: &str) -> Value {
    json!({ "rolearn": role_arn, "username": NODE_USERNAME, "groups": NODE_GROUPS })
}

fn is_node_entry(e: &Value) -> bool {
    e.get("username").and_then(Value::as_str) == Some(NODE_USERNAME)
        && e.get("groups")
            .and_then(Value::as_array)
            .is_some_and(|g| NODE_GROUPS.iter().all(|n| g.iter().any(|x| x == n)))
}

/// The `mapRoles` text with the node role mapped, or `None` if it already is.
pub fn with_node_role(
    map_roles: Option<&str>,
    role_arn: &str,
) -> Result<Option<String>, SetupError> {
    let mut entries = parse(map_roles.unwrap_or(""))?;
    let ours = |e: &Value| e.get("rolearn").and_then(Value::as_str) == Some(role_arn);
    match entries.iter().position(ours) {
        Some(i) if is_node_entry(&entries[i]) => Ok(None),
        Some(i) => {
            entries[i] = node_entry(role_arn);
            render(&entries).map(Some)
        }
        None => {
            entries.push(node_entry(role_arn));
            render(&entries).map(Some)
        }
    }
}

/// The `mapRoles` text without the node role, or `None` if it is not there.
pub fn without_node_role(map_roles: &str, role_arn: &str) -> Result<Option<String>, SetupError> {
    let mut entries = parse(map_roles)?;
    let before = entries.len();
    entries.retain(|e| e.get("rolearn").and_then(Value::as_str) != Some(role_arn));
    if entries.len() == before {
        return Ok(None);
    }
    render(&entries).map(Some)
}

/// A [`Live`] that handles the aws-auth ConfigMap through Kubernetes and passes everything else on.
pub struct KubeAwsAuth<L> {
    inner: L,
    client: kube::Client,
}

impl<L> KubeAwsAuth<L> {
    /// Wrap `inner`; `client` must point at the cluster being set up.
    pub fn new(inner: L, client: kube::Client) -> Self {
        Self { inner, client }
    }

    fn api(&self) -> kube::Api<ConfigMap> {
        kube::Api::namespaced(self.client.clone(), NAMESPACE)
    }

    async fn read_config_map(&self) -> Result<AwsAuthState, SetupError> {
        let cm = self
            .api()
            .get_opt(NAME)
            .await
            .map_err(|e| kube_error("get", e))?;
        Ok(match cm {
            None => AwsAuthState {
                exists: false,
                map_roles: None,
            },
            Some(cm) => AwsAuthState {
                exists: true,
                map_roles: cm.data.and_then(|d| d.get("mapRoles").cloned()),
            },
        })
    }

    /// Map or unmap `role_arn` in the ConfigMap as it is now. A concurrent change makes the replace
    /// fail with 409, which is retried (see [`kube_error`]) from a fresh read.
    async fn write_config_map(&self, role_arn: &str, map: bool) -> Result<(), SetupError> {
        let api = self.api();
        let current = api.get_opt(NAME).await.map_err(|e| kube_error("get", e))?;
        let text = current
            .as_ref()
            .and_then(|cm| cm.data.as_ref())
            .and_then(|d| d.get("mapRoles"))
            .map(String::as_str);
        let edited = if map {
            with_node_role(text, role_arn)?
        } else {
            without_node_role(text.unwrap_or(""), role_arn)?
        };
        let Some(map_roles) = edited else {
            return Ok(()); // already as wanted
        };
        match current {
            Some(mut cm) => {
                cm.data
                    .get_or_insert_with(BTreeMap::new)
                    .insert("mapRoles".into(), map_roles);
                api.replace(NAME, &Default::default(), &cm)
                    .await
                    .map_err(|e| kube_error("update", e))?;
            }
            None => {
                let cm = ConfigMap {
                    metadata: kube::core::ObjectMeta {
                        name: Some(NAME.into()),
                        namespace: Some(NAMESPACE.into()),
                        ..Default::default()
                    },
                    data: Some(BTreeMap::from([("mapRoles".to_string(), map_roles)])),
                    ..Default::default()
                };
                api.create(&Default::default(), &cm)
                    .await
                    .map_err(|e| kube_error("create", e))?;
            }
        }
        Ok(())
    }
}

fn kube_error(verb: &str, e: kube::Error) -> SetupError {
    let action = format!("kubernetes {verb} configmaps kube-system/aws-auth");
    match &e {
        kube::Error::Api(s) if s.code == 403 => SetupError::AccessDenied {
            action,
            message: s.message.clone(),
        },
        kube::Error::Api(s) if s.code == 409 => SetupError::Throttled {
            action,
            message: format!("conflict: {}", s.message),
        },
        _ => SetupError::Aws {
            action,
            message: e.to_string(),
        },
    }
}

impl<L: Live + Sync> Live for KubeAwsAuth<L> {
    async fn read(&self, desired: &Desired, scope: ReadScope) -> Result<LiveState, SetupError> {
        self.inner.read(desired, scope).await
    }

    async fn cluster(&self, name: &str) -> Result<Option<ClusterFacts>, SetupError> {
        self.inner.cluster(name).await
    }

    async fn read_eks(&self, desired: &Desired) -> Result<EksState, SetupError> {
        let mut state = self.inner.read_eks(desired).await?;
        if desired.aws_auth_role.is_some() {
            state.aws_auth = Some(self.read_config_map().await?);
        }
        Ok(state)
    }

    async fn apply(&self, op: &Operation) -> Result<(), SetupError> {
        match op {
            Operation::WriteAwsAuth { role_arn, map } => {
                self.write_config_map(role_arn, *map).await
            }
            other => self.inner.apply(other).await,
        }
    }
}

impl<L: Stacks + Sync> Stacks for KubeAwsAuth<L> {
    async fn describe_stack(&self, name: &str) -> Result<Option<StackInfo>, SetupError> {
        self.inner.describe_stack(name).await
    }

    async fn stack_template(&self, name: &str) -> Result<String, SetupError> {
        self.inner.stack_template(name).await
    }
    async fn update_stack_template(&self, name: &str, body: &str) -> Result<bool, SetupError> {
        self.inner.update_stack_template(name, body).await
    }
    async fn wait_stack(&self, name: &str) -> Result<Option<String>, SetupError> {
        self.inner.wait_stack(name).await
    }
    async fn delete_stack(&self, name: &str) -> Result<(), SetupError> {
        self.inner.delete_stack(name).await
    }

    async fn rules_targeting(&self, arn: &str) -> Result<Vec<String>, SetupError> {
        self.inner.rules_targeting(arn).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:iam::123456789012:role/KarpenterNodeRole-demo";

    #[test]
    fn adds_updates_and_removes_only_our_entry() {
        let other = "- rolearn: arn:aws:iam::123456789012:role/ng\n  username: system:node:{{EC2PrivateDNSName}}\n  groups:\n  - system:bootstrappers\n  - system:nodes\n";
        let added = with_node_role(Some(other), ARN).unwrap().unwrap();
        let entries = parse(&added).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1], node_entry(ARN));
        assert_eq!(with_node_role(Some(&added), ARN).unwrap(), None);

        let wrong_groups = format!("- rolearn: {ARN}\n  username: x\n  groups: [a]\n");
        let fixed = with_node_role(Some(&wrong_groups), ARN).unwrap().unwrap();
        assert_eq!(parse(&fixed).unwrap(), vec![node_entry(ARN)]);

        let removed = without_node_role(&added, ARN).unwrap().unwrap();
        assert_eq!(parse(&removed).unwrap(), parse(other).unwrap());
        assert_eq!(without_node_role(other, ARN).unwrap(), None);
        assert_eq!(
            parse(&with_node_role(None, ARN).unwrap().unwrap()).unwrap(),
            vec![node_entry(ARN)]
        );
        assert!(with_node_role(Some("rolearn: not-a-list"), ARN).is_err());
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn entry() -> impl Strategy<Value = Value> {
            let arn = prop_oneof![
                Just(ARN.to_string()),
                "arn:aws:iam::123456789012:role/[a-z]{1,8}",
            ];
            let groups = prop::collection::vec(
                prop_oneof![
                    Just("system:nodes"),
                    Just("system:bootstrappers"),
                    Just("ops")
                ],
                0..3,
            );
            (
                arn,
                prop_oneof![Just(NODE_USERNAME.to_string()), "[a-z:]{1,10}"],
                groups,
            )
                .prop_map(|(a, u, g)| json!({"rolearn": a, "username": u, "groups": g}))
        }

        fn others(entries: &[Value]) -> Vec<Value> {
            entries
                .iter()
                .filter(|e| e["rolearn"] != ARN)
                .cloned()
                .collect()
        }

        proptest! {
            /// Any text: no panic.
            #[test]
            fn any_text_is_edited_or_refused(s in "\\PC{0,60}|[-:a-z \\n\\[\\]{}]{0,60}") {
                let _ = with_node_role(Some(&s), ARN);
                let _ = without_node_role(&s, ARN);
            }

            /// Adding maps the node role (first entry for the ARN), keeps every other entry in
            /// order, and is idempotent; removing then drops every entry for the ARN and only them.
            #[test]
            fn add_and_remove_touch_only_the_node_role(entries in prop::collection::vec(entry(), 0..6)) {
                let text = render(&entries).unwrap();
                let added = match with_node_role(Some(&text), ARN).unwrap() {
                    Some(t) => t,
                    None => {
                        let first = entries.iter().find(|e| e["rolearn"] == ARN);
                        prop_assert!(first.is_some_and(is_node_entry), "None although unmapped");
                        text.clone()
                    }
                };
                let after = parse(&added).unwrap();
                let first = after.iter().find(|e| e["rolearn"] == ARN).unwrap();
                prop_assert!(is_node_entry(first));
                prop_assert_eq!(others(&after), others(&entries));
                prop_assert_eq!(with_node_role(Some(&added), ARN).unwrap(), None);
                let removed = without_node_role(&added, ARN).unwrap().unwrap();
                prop_assert_eq!(parse(&removed).unwrap(), others(&entries));
            }
        }
    }
}
