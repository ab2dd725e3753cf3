//! Expectations read from the upstream getting-started template
//! (`../shared/crds/cloudformation/cloudformation-v1.yaml`), with `!Sub` done the way
//! CloudFormation does it. Only the `PolicyDocument: !Sub |` JSON blocks are read from the file;
//! the queue policy and rules are written out in the tests from the reference.
use std::collections::BTreeMap;

use serde_json::Value;

/// Substitute the template's `${...}` variables.
pub fn substitute(text: &str, vars: &BTreeMap<&str, String>) -> String {
    let mut out = text.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("${{{k}}}"), v);
    }
    assert!(
        !out.contains("${"),
        "unsubstituted variable left in template text: {out}"
    );
    out
}

/// The controller policy documents of the v1 template, by policy name, substituted for
/// cluster `c` in region `r` of account `a` (partition `aws`).
pub fn controller_policies(c: &str, r: &str, a: &str) -> BTreeMap<String, Value> {
    let path = crate::support::shared_dir().join("crds/cloudformation/cloudformation-v1.yaml");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let vars = BTreeMap::from([
        ("ClusterName", c.to_string()),
        ("AWS::Partition", "aws".to_string()),
        ("AWS::Region", r.to_string()),
        ("AWS::AccountId", a.to_string()),
        (
            "KarpenterNodeRole.Arn",
            format!("arn:aws:iam::{a}:role/KarpenterNodeRole-{c}"),
        ),
        (
            "KarpenterInterruptionQueue.Arn",
            format!("arn:aws:sqs:{r}:{a}:{c}"),
        ),
    ]);
    let lines: Vec<&str> = text.lines().collect();
    let mut out = BTreeMap::new();
    let mut name: Option<String> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if let Some(rest) = line.strip_prefix("ManagedPolicyName: !Sub ") {
            name = Some(substitute(rest.trim_matches('"'), &vars));
        }
        if line == "PolicyDocument: !Sub |" {
            let indent = lines[i].len() - lines[i].trim_start().len();
            let mut block = String::new();
            i += 1;
            while i < lines.len()
                && (lines[i].trim().is_empty()
                    || lines[i].len() - lines[i].trim_start().len() > indent)
            {
                block.push_str(lines[i]);
                block.push('\n');
                i += 1;
            }
            let doc: Value = serde_json::from_str(&substitute(&block, &vars))
                .unwrap_or_else(|e| panic!("template policy is not JSON: {e}\n{block}"));
            out.insert(name.take().expect("policy name before document"), doc);
            continue;
        }
        i += 1;
    }
    assert_eq!(
        out.len(),
        6,
        "expected six controller policies in the template"
    );
    out
}

/// Every resource of the v1 template, by logical id, parsed as YAML with the CloudFormation tags
/// resolved for cluster `c` in region `r` of account `a`: `!Sub` substituted, `!GetAtt
/// KarpenterInterruptionQueue.Arn` replaced by the queue's ARN, `!Ref X` left as `X`.
pub fn resources(c: &str, r: &str, a: &str) -> serde_json::Map<String, Value> {
    let path = crate::support::shared_dir().join("crds/cloudformation/cloudformation-v1.yaml");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let doc: Value = serde_saphyr::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()));
    let vars = BTreeMap::from([
        ("ClusterName", c.to_string()),
        ("AWS::Partition", "aws".to_string()),
        ("AWS::Region", r.to_string()),
        ("AWS::AccountId", a.to_string()),
        ("AWS::URLSuffix", "amazonaws.com".to_string()),
        (
            "KarpenterNodeRole.Arn",
            format!("arn:aws:iam::{a}:role/KarpenterNodeRole-{c}"),
        ),
        (
            "KarpenterInterruptionQueue.Arn",
            format!("arn:aws:sqs:{r}:{a}:{c}"),
        ),
    ]);
    fn resolve(v: &Value, vars: &BTreeMap<&str, String>) -> Value {
        match v {
            Value::String(s) if s.contains("${") => Value::String(substitute(s, vars)),
            Value::String(s) => vars
                .get(s.as_str())
                .filter(|_| s.ends_with(".Arn"))
                .map_or_else(|| v.clone(), |arn| Value::String(arn.clone())),
            Value::Array(items) => Value::Array(items.iter().map(|i| resolve(i, vars)).collect()),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), resolve(v, vars)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    match resolve(&doc["Resources"], &vars) {
        Value::Object(m) => m,
        other => panic!("Resources is not a mapping: {other}"),
    }
}
