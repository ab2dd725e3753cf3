//! Instance profiles Karpenter manages for an EC2NodeClass `spec.role` (karpenter-aws.md §10).
use std::collections::BTreeMap;

use aws_sdk_iam::types::Tag;

use super::fnv64;
use crate::cloud::aws::{classify, AwsContext, AwsError};

/// `<cluster>_<hash(region + nodeclass name)>` (upstream's v1.0 naming; later releases mix in a
/// random UUID, which this build does not, so the name is stable across runs).
pub fn instance_profile_name(cluster: &str, region: &str, nodeclass: &str) -> String {
    format!(
        "{cluster}_{}",
        fnv64(format!("{region}{nodeclass}").as_bytes())
    )
}

/// `/karpenter/<region>/<cluster>/<nodeclass-uid>/`.
pub fn instance_profile_path(cluster: &str, region: &str, nodeclass_uid: &str) -> String {
    format!("/karpenter/{region}/{cluster}/{nodeclass_uid}/")
}

/// Tags on a managed profile.
pub fn instance_profile_tags(
    cluster: &str,
    region: &str,
    nodeclass: &str,
    user_tags: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut t = user_tags.clone();
    t.insert(format!("kubernetes.io/cluster/{cluster}"), "owned".into());
    t.insert("eks:eks-cluster-name".into(), cluster.into());
    t.insert(karpenter_api::labels::EC2NODECLASS.into(), nodeclass.into());
    t.insert(karpenter_api::labels::REGION.into(), region.into());
    t
}

/// Create (or repair) the profile so it holds exactly `role` (path stripped). Returns its name.
pub async fn ensure_instance_profile(
    ctx: &AwsContext,
    cluster: &str,
    nodeclass: &str,
    nodeclass_uid: &str,
    role: &str,
    user_tags: &BTreeMap<String, String>,
) -> Result<String, AwsError> {
    let iam = ctx.iam();
    let region = ctx.region();
    let name = instance_profile_name(cluster, region, nodeclass);
    let role_name = role.rsplit('/').next().unwrap_or(role).to_string();
    let existing = match iam
        .get_instance_profile()
        .instance_profile_name(&name)
        .send()
        .await
    {
        Ok(out) => out.instance_profile().cloned(),
        Err(e) => {
            let err = classify("iam:GetInstanceProfile", e);
            if !err.is_not_found() {
                return Err(err);
            }
            None
        }
    };
    let roles: Vec<String> = match &existing {
        Some(p) => p
            .roles()
            .iter()
            .map(|r| r.role_name().to_string())
            .collect(),
        None => {
            let tags = instance_profile_tags(cluster, region, nodeclass, user_tags)
                .into_iter()
                .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
                .collect();
            iam.create_instance_profile()
                .instance_profile_name(&name)
                .path(instance_profile_path(cluster, region, nodeclass_uid))
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(|e| classify("iam:CreateInstanceProfile", e))?;
            Vec::new()
        }
    };
    if roles.contains(&role_name) {
        return Ok(name);
    }
    for other in roles {
        iam.remove_role_from_instance_profile()
            .instance_profile_name(&name)
            .role_name(&other)
            .send()
            .await
            .map_err(|e| classify("iam:RemoveRoleFromInstanceProfile", e))?;
    }
    iam.add_role_to_instance_profile()
        .instance_profile_name(&name)
        .role_name(&role_name)
        .send()
        .await
        .map_err(|e| classify("iam:AddRoleToInstanceProfile", e))?;
    Ok(name)
}

/// Remove the role and delete the profile (already gone is fine).
pub async fn delete_instance_profile(ctx: &AwsContext, name: &str) -> Result<(), AwsError> {
    let iam = ctx.iam();
    let profile = match iam
        .get_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
    {
        Ok(out) => out.instance_profile().cloned(),
        Err(e) => {
            let err = classify("iam:GetInstanceProfile", e);
            if err.is_not_found() {
                return Ok(());
            }
            return Err(err);
        }
    };
    for r in profile.iter().flat_map(|p| p.roles()) {
        iam.remove_role_from_instance_profile()
            .instance_profile_name(name)
            .role_name(r.role_name())
            .send()
            .await
            .map_err(|e| classify("iam:RemoveRoleFromInstanceProfile", e))?;
    }
    iam.delete_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
        .map_err(|e| classify("iam:DeleteInstanceProfile", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths_follow_upstream() {
        let n = instance_profile_name("demo", "us-west-2", "default");
        assert!(n.starts_with("demo_"), "{n}");
        assert_eq!(n, instance_profile_name("demo", "us-west-2", "default"));
        assert_ne!(n, instance_profile_name("demo", "us-east-1", "default"));
        assert_eq!(
            instance_profile_path("demo", "us-west-2", "uid-1"),
            "/karpenter/us-west-2/demo/uid-1/"
        );
        let t = instance_profile_tags("demo", "us-west-2", "default", &BTreeMap::new());
        assert_eq!(t["kubernetes.io/cluster/demo"], "owned");
        assert_eq!(t["topology.kubernetes.io/region"], "us-west-2");
    }
}
