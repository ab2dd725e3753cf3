//! List: label and field selectors, `limit` and `continue` paging with `remainingItemCount`, and the list's
//! resourceVersion (`k8s.io/apiserver/pkg/storage/etcd3/store.go` `GetList`; the continue token,
//! `k8s.io/apiserver/pkg/storage/continue.go`, here encodes the last key returned).

use super::{meta_str, Store};
use crate::resources::ResourceDef;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use serde_json::Value;

/// One page of a list.
pub(crate) struct ListPage {
    pub items: Vec<Value>,
    pub resource_version: u64,
    pub continue_token: Option<String>,
    /// Matching items after this page (`remainingItemCount`), when there is a next page.
    pub remaining: Option<u64>,
}

impl Store {
    /// Lists matching objects; returns items, the list resourceVersion and a continue token.
    pub fn list(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
        limit: Option<usize>,
        cont: Option<&str>,
    ) -> Result<(Vec<Value>, u64, Option<String>), ApiError> {
        self.list_page(def, ns, labels, fields, limit, cont)
            .map(|p| (p.items, p.resource_version, p.continue_token))
    }

    /// Like [`Store::list`], also counting the matching items left after this page.
    pub fn list_page(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
        limit: Option<usize>,
        cont: Option<&str>,
    ) -> Result<ListPage, ApiError> {
        let after: Option<(String, String)> = match cont {
            Some(c) if !c.is_empty() => Some(decode_continue(c).ok_or_else(|| {
                ApiError::bad_request(format!("continue key is not valid: {c:?}"))
            })?),
            _ => None,
        };
        let mut items = Vec::new();
        let mut token = None;
        let mut remaining = 0u64;
        for (ons, oname, obj) in self.resource_range(def, ns) {
            if let Some((ans, aname)) = &after {
                if (ons, oname) <= (ans.as_str(), aname.as_str()) {
                    continue;
                }
            }
            if !labels.matches_object(obj) || !fields.matches(obj) {
                continue;
            }
            if let Some(l) = limit {
                if l > 0 && items.len() == l {
                    if token.is_none() {
                        let last: &Value = &items[l - 1];
                        token = Some(encode_continue(
                            meta_str(last, "namespace").unwrap_or_default(),
                            meta_str(last, "name").unwrap_or_default(),
                        ));
                    }
                    remaining += 1;
                    continue;
                }
            }
            items.push(obj.clone());
        }
        Ok(ListPage {
            items,
            resource_version: self.rv,
            remaining: token.as_ref().map(|_| remaining),
            continue_token: token,
        })
    }
}

impl Store {
    /// The stored objects of one resource (in one namespace, or all), in key order: keys sort
    /// by (group, plural, namespace, name), so this reads only the resource's range.
    fn resource_range<'a>(
        &'a self,
        def: &'a ResourceDef,
        ns: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a str, &'a str, &'a Value)> + 'a {
        let from = (
            def.group.to_string(),
            def.plural.to_string(),
            ns.unwrap_or_default().to_string(),
            String::new(),
        );
        self.objects
            .range(from..)
            .take_while(move |((g, p, ons, _), _)| {
                *g == def.group && *p == def.plural && ns.is_none_or(|n| n == ons)
            })
            .map(|((_, _, ons, oname), obj)| (ons.as_str(), oname.as_str(), obj))
    }

    /// Visits the stored objects of one resource (in one namespace, or all), in key order,
    /// without copying them.
    pub fn visit(&self, def: &ResourceDef, ns: Option<&str>, f: &mut dyn FnMut(&Value)) {
        for (_, _, obj) in self.resource_range(def, ns) {
            f(obj);
        }
    }
}

pub(super) fn encode_continue(ns: &str, name: &str) -> String {
    format!("{ns}/{name}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(super) fn decode_continue(s: &str) -> Option<(String, String)> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    let text = String::from_utf8(bytes?).ok()?;
    let (ns, name) = text.split_once('/')?;
    Some((ns.to_string(), name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn continue_tokens_round_trip() {
        let t = encode_continue("default", "pod-1");
        assert_eq!(
            decode_continue(&t),
            Some(("default".into(), "pod-1".into()))
        );
        assert_eq!(decode_continue("zz"), None);
    }
}
