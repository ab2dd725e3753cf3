//! Patch semantics: RFC 7386 merge patch, strategic merge patch for built-in kinds, and the
//! field-set machinery behind server-side apply (`managedFields` with `fieldsV1`).

use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// How a list field merges (its `patchStrategy`/`x-kubernetes-list-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListType {
    /// Items are merged by these key fields (the first is the strategic `patchMergeKey`).
    Map(&'static [&'static str]),
    /// A set of scalars (e.g. `finalizers`).
    Set,
    /// Replaced as a whole (e.g. `tolerations`, `args`).
    Atomic,
}

/// The list type of field `name`. `in_metadata` is true under `metadata`; for custom resources
/// only metadata lists have non-atomic semantics (CRD lists are atomic without schema markers).
pub fn list_type(name: &str, custom: bool, in_metadata: bool) -> ListType {
    match name {
        "finalizers" if in_metadata => ListType::Set,
        "ownerReferences" if in_metadata => ListType::Map(&["uid"]),
        _ if custom || in_metadata => ListType::Atomic,
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "resizePolicy" => ListType::Map(&["name"]),
        "ports" => ListType::Map(&["containerPort", "protocol"]),
        "volumeMounts" => ListType::Map(&["mountPath"]),
        "conditions" | "addresses" => ListType::Map(&["type"]),
        "hostAliases" => ListType::Map(&["ip"]),
        "topologySpreadConstraints" => ListType::Map(&["topologyKey", "whenUnsatisfiable"]),
        _ => ListType::Atomic,
    }
}

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Error from a malformed strategic merge patch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StrategicError(pub String);

/// Strategic merge patch (built-in kinds). Lists merge by their merge key, `finalizers` as a set,
/// other lists are replaced; `$patch: delete|replace|merge`, `$deleteFromPrimitiveList/<f>`,
/// `$setElementOrder/<f>` and `$retainKeys` directives are understood.
pub fn strategic_merge(target: &mut Value, patch: &Value) -> Result<(), StrategicError> {
    smp_object(target, patch, false)
}

fn smp_object(target: &mut Value, patch: &Value, in_metadata: bool) -> Result<(), StrategicError> {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return Ok(());
    };
    match p.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut clean = p.clone();
            clean.remove("$patch");
            *target = Value::Object(clean);
            return Ok(());
        }
        Some("delete") => {
            *target = Value::Object(Map::new());
            return Ok(());
        }
        Some("merge") | None => {}
        Some(other) => {
            return Err(StrategicError(format!("unknown patch type: {other}")));
        }
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else {
        return Ok(());
    };
    for (k, v) in p {
        if k == "$patch" || k == "$retainKeys" || k.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            let remove: Vec<&Value> = v.as_array().map(|a| a.iter().collect()).unwrap_or_default();
            if let Some(Value::Array(items)) = t.get_mut(field) {
                items.retain(|i| !remove.contains(&i));
            }
            continue;
        }
        if v.is_null() {
            t.remove(k);
            continue;
        }
        let child_meta = in_metadata || k == "metadata";
        match v {
            Value::Object(po) => {
                if po.get("$patch").and_then(Value::as_str) == Some("delete") {
                    t.remove(k);
                    continue;
                }
                smp_object(t.entry(k.clone()).or_insert(Value::Null), v, child_meta)?;
            }
            Value::Array(pa) => {
                let lt = list_type(k, false, in_metadata);
                let existing = match t.get(k) {
                    Some(Value::Array(a)) => a.clone(),
                    _ => Vec::new(),
                };
                let merged = smp_list(existing, pa, lt, k)?;
                t.insert(k.clone(), Value::Array(merged));
            }
            other => {
                t.insert(k.clone(), other.clone());
            }
        }
    }
    Ok(())
}

fn smp_list(
    mut live: Vec<Value>,
    patch: &[Value],
    lt: ListType,
    field: &str,
) -> Result<Vec<Value>, StrategicError> {
    // `{"$patch": "replace"}` as an item replaces the whole list with the other items.
    let replace = patch.iter().any(|i| {
        i.get("$patch").and_then(Value::as_str) == Some("replace")
            && i.as_object().is_some_and(|o| o.len() == 1)
    });
    if replace {
        return Ok(patch
            .iter()
            .filter(|i| i.get("$patch").is_none())
            .cloned()
            .collect());
    }
    match lt {
        ListType::Atomic => Ok(patch.to_vec()),
        ListType::Set => {
            for item in patch {
                if !live.contains(item) {
                    live.push(item.clone());
                }
            }
            Ok(live)
        }
        ListType::Map(keys) => {
            let key = keys[0];
            for item in patch {
                let Some(kv) = item.get(key) else {
                    return Err(StrategicError(format!(
                        "map: {item} does not contain declared merge key: {key} (list field {field:?})"
                    )));
                };
                let pos = live.iter().position(|l| l.get(key) == Some(kv));
                let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
                match (pos, delete) {
                    (Some(i), true) => {
                        live.remove(i);
                    }
                    (None, true) => {}
                    (Some(i), false) => smp_object(&mut live[i], item, false)?,
                    (None, false) => {
                        let mut fresh = Value::Object(Map::new());
                        smp_object(&mut fresh, item, false)?;
                        live.push(fresh);
                    }
                }
            }
            Ok(live)
        }
    }
}

/// One element of a managed-field path: `f:<name>`, `k:<json keys>`, `v:<json value>` or `.`.
pub type FieldPath = Vec<String>;

/// Collects the leaf field paths of `v` (the set an applier or updater manages). Identity
/// metadata (name, uid, resourceVersion, ...) is not tracked; labels, annotations, finalizers
/// and ownerReferences are.
pub fn field_set(v: &Value, custom: bool) -> BTreeSet<FieldPath> {
    let mut out = BTreeSet::new();
    if let Value::Object(m) = v {
        for (k, child) in m {
            if k == "apiVersion" || k == "kind" {
                continue;
            }
            if k == "metadata" {
                if let Value::Object(md) = child {
                    for (mk, mv) in md {
                        if matches!(
                            mk.as_str(),
                            "labels" | "annotations" | "finalizers" | "ownerReferences"
                        ) {
                            let mut p = vec!["f:metadata".to_string(), format!("f:{mk}")];
                            collect(mv, mk, custom, true, &mut p, &mut out);
                        }
                    }
                }
                continue;
            }
            let mut p = vec![format!("f:{k}")];
            collect(child, k, custom, false, &mut p, &mut out);
        }
    }
    out
}

fn key_elem(item: &Value, keys: &[&str]) -> Option<String> {
    let mut m = Map::new();
    for k in keys {
        if let Some(v) = item.get(*k) {
            m.insert((*k).to_string(), v.clone());
        }
    }
    if m.is_empty() {
        None
    } else {
        Some(format!("k:{}", Value::Object(m)))
    }
}

fn collect(
    v: &Value,
    name: &str,
    custom: bool,
    in_meta: bool,
    path: &mut FieldPath,
    out: &mut BTreeSet<FieldPath>,
) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                path.push(format!("f:{k}"));
                collect(child, k, custom, in_meta, path, out);
                path.pop();
            }
        }
        Value::Array(items) => match list_type(name, custom, in_meta) {
            ListType::Map(keys) => {
                for item in items {
                    match key_elem(item, keys) {
                        Some(ke) => {
                            path.push(ke);
                            path.push(".".to_string());
                            out.insert(path.clone());
                            path.pop();
                            if let Value::Object(im) = item {
                                for (k, child) in im {
                                    path.push(format!("f:{k}"));
                                    collect(child, k, custom, in_meta, path, out);
                                    path.pop();
                                }
                            }
                            path.pop();
                        }
                        None => {
                            out.insert(path.clone());
                        }
                    }
                }
            }
            ListType::Set => {
                for item in items {
                    path.push(format!("v:{item}"));
                    out.insert(path.clone());
                    path.pop();
                }
            }
            ListType::Atomic => {
                out.insert(path.clone());
            }
        },
        _ => {
            out.insert(path.clone());
        }
    }
}

fn find_keyed(items: &[Value], elem: &str) -> Option<usize> {
    let keys: Value = serde_json::from_str(elem.strip_prefix("k:")?).ok()?;
    let keys = keys.as_object()?;
    items
        .iter()
        .position(|i| keys.iter().all(|(k, v)| i.get(k) == Some(v)))
}

/// The value at a managed-field path (for `.` the list item itself).
pub fn value_at<'a>(root: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = root;
    for elem in path {
        if elem == "." {
            return Some(cur);
        }
        if let Some(f) = elem.strip_prefix("f:") {
            cur = cur.get(f)?;
        } else if elem.starts_with("k:") {
            let items = cur.as_array()?;
            cur = &items[find_keyed(items, elem)?];
        } else if let Some(v) = elem.strip_prefix("v:") {
            let want: Value = serde_json::from_str(v).ok()?;
            let items = cur.as_array()?;
            cur = items.iter().find(|i| **i == want)?;
        } else {
            return None;
        }
    }
    Some(cur)
}

/// Removes the field at a managed-field path; missing parents are a no-op.
pub fn remove_at(root: &mut Value, path: &[String]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    if last == "." {
        // remove the keyed item from its list
        let Some((item_elem, list_path)) = parent_path.split_last() else {
            return;
        };
        if let Some(Value::Array(items)) = value_at_mut(root, list_path) {
            if let Some(i) = find_keyed(items, item_elem) {
                items.remove(i);
            }
        }
        return;
    }
    let Some(parent) = value_at_mut(root, parent_path) else {
        return;
    };
    if let Some(f) = last.strip_prefix("f:") {
        if let Value::Object(m) = parent {
            m.remove(f);
        }
    } else if let Some(v) = last.strip_prefix("v:") {
        if let (Ok(want), Value::Array(items)) = (serde_json::from_str::<Value>(v), parent) {
            items.retain(|i| *i != want);
        }
    }
}

fn value_at_mut<'a>(root: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    let mut cur = root;
    for elem in path {
        if let Some(f) = elem.strip_prefix("f:") {
            cur = cur.get_mut(f)?;
        } else if elem.starts_with("k:") {
            let items = cur.as_array_mut()?;
            let i = find_keyed(items, elem)?;
            cur = &mut items[i];
        } else {
            return None;
        }
    }
    Some(cur)
}

/// Merges an applied configuration into the live object with SSA list semantics.
pub fn apply_merge(live: &mut Value, applied: &Value, custom: bool) {
    apply_merge_inner(live, applied, "", custom, false)
}

fn apply_merge_inner(live: &mut Value, applied: &Value, name: &str, custom: bool, in_meta: bool) {
    match (live, applied) {
        (Value::Object(l), Value::Object(a)) => {
            for (k, av) in a {
                if av.is_null() {
                    continue;
                }
                let child_meta = in_meta || (name.is_empty() && k == "metadata");
                match l.get_mut(k) {
                    Some(lv) => apply_merge_inner(lv, av, k, custom, child_meta),
                    None => {
                        l.insert(k.clone(), av.clone());
                    }
                }
            }
        }
        (Value::Array(l), Value::Array(a)) => match list_type(name, custom, in_meta) {
            ListType::Map(keys) => {
                for item in a {
                    let pos = key_elem(item, keys).and_then(|ke| find_keyed(l, &ke));
                    match pos {
                        Some(i) => apply_merge_inner(&mut l[i], item, "", custom, in_meta),
                        None => l.push(item.clone()),
                    }
                }
            }
            ListType::Set => {
                for item in a {
                    if !l.contains(item) {
                        l.push(item.clone());
                    }
                }
            }
            ListType::Atomic => *l = a.clone(),
        },
        (l, a) => *l = a.clone(),
    }
}

/// Renders a set of field paths as a `fieldsV1` tree.
pub fn to_fields_v1(set: &BTreeSet<FieldPath>) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut cur = &mut root;
        for elem in path {
            let next = cur
                .entry(elem.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(m) = next else { break };
            cur = m;
        }
    }
    Value::Object(root)
}

/// Parses a `fieldsV1` tree back into leaf paths.
pub fn from_fields_v1(v: &Value) -> BTreeSet<FieldPath> {
    let mut out = BTreeSet::new();
    fn walk(v: &Value, path: &mut FieldPath, out: &mut BTreeSet<FieldPath>) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, child) in m {
                    path.push(k.clone());
                    walk(child, path, out);
                    path.pop();
                }
            }
            _ => {
                if !path.is_empty() {
                    out.insert(path.clone());
                }
            }
        }
    }
    walk(v, &mut Vec::new(), &mut out);
    out
}

/// Human form of a path for conflict messages: `.spec.replicas`, `.metadata.labels.app`.
pub fn display_path(path: &[String]) -> String {
    let mut s = String::new();
    for e in path {
        if e == "." {
            continue;
        }
        if let Some(f) = e.strip_prefix("f:") {
            s.push('.');
            s.push_str(f);
        } else if let Some(k) = e.strip_prefix("k:") {
            s.push('[');
            s.push_str(k);
            s.push(']');
        } else if let Some(v) = e.strip_prefix("v:") {
            s.push_str(&format!("[={v}]"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc7386_examples() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
        ];
        for (mut target, patch, want) in cases {
            merge_patch(&mut target, &patch);
            assert_eq!(target, want, "patch {patch}");
        }
    }

    #[test]
    fn strategic_ports_mounts_and_primitive_deletes() {
        let mut live = json!({
            "metadata": {"finalizers": ["a", "b", "c"]},
            "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80, "name": "http"}],
                                      "volumeMounts": [{"mountPath": "/a", "name": "va"}],
                                      "args": ["x", "y"]}]}
        });
        let patch = json!({
            "metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]},
            "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 443, "name": "https"}],
                                      "volumeMounts": [{"mountPath": "/a", "readOnly": true}],
                                      "args": ["z"]}],
                     "$setElementOrder/containers": [{"name": "c"}]}
        });
        strategic_merge(&mut live, &patch).unwrap();
        assert_eq!(live["metadata"]["finalizers"], json!(["a", "c"]));
        let c = &live["spec"]["containers"][0];
        assert_eq!(c["ports"].as_array().unwrap().len(), 2);
        assert_eq!(
            c["volumeMounts"],
            json!([{"mountPath": "/a", "name": "va", "readOnly": true}])
        );
        assert_eq!(c["args"], json!(["z"]), "args are atomic");
        assert!(live["spec"].get("$setElementOrder/containers").is_none());
    }

    #[test]
    fn strategic_rejects_items_without_merge_key_and_unknown_directives() {
        let mut live = json!({"spec": {"containers": [{"name": "c"}]}});
        let err = strategic_merge(
            &mut live,
            &json!({"spec": {"containers": [{"image": "x"}]}}),
        )
        .unwrap_err();
        assert!(err.0.contains("merge key: name"), "{}", err.0);
        let err = strategic_merge(&mut live, &json!({"spec": {"$patch": "explode"}})).unwrap_err();
        assert!(err.0.contains("explode"));
    }

    #[test]
    fn strategic_delete_map_directive() {
        let mut live = json!({"metadata": {"annotations": {"a": "1"}, "labels": {"l": "1"}}});
        strategic_merge(
            &mut live,
            &json!({"metadata": {"annotations": {"$patch": "delete"}}}),
        )
        .unwrap();
        assert_eq!(live, json!({"metadata": {"labels": {"l": "1"}}}));
    }

    #[test]
    fn field_sets_use_keys_sets_and_atomic_lists() {
        let obj = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "labels": {"a": "1"}, "finalizers": ["f"]},
            "spec": {"containers": [{"name": "c", "image": "i"}], "tolerations": [{"key": "k"}]}
        });
        let set = field_set(&obj, false);
        let rendered = to_fields_v1(&set);
        assert_eq!(
            rendered,
            json!({
                "f:metadata": {"f:labels": {"f:a": {}}, "f:finalizers": {"v:\"f\"": {}}},
                "f:spec": {
                    "f:containers": {"k:{\"name\":\"c\"}": {".": {}, "f:image": {}, "f:name": {}}},
                    "f:tolerations": {}
                }
            })
        );
        assert_eq!(from_fields_v1(&rendered), set);
        // Custom resources: lists are atomic.
        let cr = json!({"spec": {"containers": [{"name": "c"}]}});
        assert_eq!(
            to_fields_v1(&field_set(&cr, true)),
            json!({"f:spec": {"f:containers": {}}})
        );
    }

    #[test]
    fn remove_at_paths() {
        let mut obj = json!({"metadata": {"finalizers": ["a", "b"]},
                             "spec": {"containers": [{"name": "c", "image": "i"}, {"name": "d"}]}});
        remove_at(
            &mut obj,
            &["f:metadata".into(), "f:finalizers".into(), "v:\"a\"".into()],
        );
        remove_at(
            &mut obj,
            &[
                "f:spec".into(),
                "f:containers".into(),
                "k:{\"name\":\"c\"}".into(),
                "f:image".into(),
            ],
        );
        remove_at(
            &mut obj,
            &[
                "f:spec".into(),
                "f:containers".into(),
                "k:{\"name\":\"d\"}".into(),
                ".".into(),
            ],
        );
        remove_at(&mut obj, &["f:nothing".into(), "f:here".into()]);
        assert_eq!(
            obj,
            json!({"metadata": {"finalizers": ["b"]}, "spec": {"containers": [{"name": "c"}]}})
        );
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;
        use serde_json::{json, Value};

        fn leaf() -> impl Strategy<Value = Value> {
            prop_oneof![
                any::<i32>().prop_map(|n| json!(n)),
                "[a-z]{0,6}".prop_map(|s| json!(s)),
                any::<bool>().prop_map(|b| json!(b)),
            ]
        }

        fn doc() -> impl Strategy<Value = Value> {
            leaf().prop_recursive(3, 24, 4, |inner| {
                prop_oneof![
                    prop::collection::btree_map("[a-d]", inner.clone(), 0..4)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                    prop::collection::vec(inner, 0..3).prop_map(Value::Array),
                ]
            })
        }

        fn object() -> impl Strategy<Value = Value> {
            prop::collection::btree_map("[a-d]", doc(), 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect()))
        }

        proptest! {
            #[test]
            fn merge_patch_is_idempotent_and_sets_patched_keys(mut target in object(), patch in object()) {
                merge_patch(&mut target, &patch);
                let once = target.clone();
                merge_patch(&mut target, &patch);
                prop_assert_eq!(&target, &once);
                for (k, v) in patch.as_object().unwrap() {
                    if !v.is_object() {
                        prop_assert_eq!(&target[k], v);
                    }
                }
            }

            #[test]
            fn fields_v1_round_trips(obj in object(), custom in any::<bool>()) {
                let set = field_set(&obj, custom);
                prop_assert_eq!(from_fields_v1(&to_fields_v1(&set)), set.clone());
                for p in &set {
                    prop_assert!(value_at(&obj, p).is_some(), "path {:?} resolves", p);
                }
            }

            #[test]
            fn apply_merge_of_self_is_identity(obj in object(), custom in any::<bool>()) {
                let mut live = obj.clone();
                apply_merge(&mut live, &obj, custom);
                prop_assert_eq!(live, obj);
            }
        }
    }
}
