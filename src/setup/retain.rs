//! `DeletionPolicy: Retain` on every resource of a CloudFormation template, edited in place, and
//! the check that a template retains every resource a stack lists.
//!
//! `--from-cloudformation` deletes the stack after this edit, so a resource the edit misses is
//! deleted with it. The template is therefore read as a YAML document (JSON is YAML), not as
//! lines: the parser's events carry source positions, so the edit inserts (or rewrites) exactly
//! one key per resource and leaves everything else byte for byte — comments, flow style,
//! CloudFormation's short-form tags (`!Sub`, `!GetAtt`, `!Ref`), quoting and key order. A
//! resource whose shape the edit cannot handle is an error naming it, never a silent skip.
//!
//! CloudFormation semantics: `DeletionPolicy` is a resource attribute beside `Type` and
//! `Properties` (AWS CloudFormation User Guide, "DeletionPolicy attribute").
use std::collections::BTreeMap;

use granit_parser::{Event, Parser, ScalarStyle, Span, StructureStyle};

use super::SetupError;

const KEY: &str = "DeletionPolicy";
const RETAIN: &str = "Retain";

/// One resource of the template, as found in the source.
struct Site {
    logical_id: String,
    /// `Block`: the span of its first key (inserted before that line); `Flow`: the `{`.
    style: StructureStyle,
    start: Span,
    /// Its `DeletionPolicy`, if it has one.
    policy: Option<Policy>,
}

/// A resource's `DeletionPolicy` value as written.
struct Policy {
    /// `Some` for an untagged scalar; `None` for anything else (a tag, a sequence, a mapping).
    value: Option<String>,
    style: Option<ScalarStyle>,
    span: Span,
}

fn malformed(message: impl Into<String>) -> SetupError {
    SetupError::Malformed {
        what: "the stack template".into(),
        message: message.into(),
    }
}

/// The parser's events without comments and anchor metadata (presentation only).
struct Events<'a> {
    parser: Parser<'a, granit_parser::StrInput<'a>>,
}

impl<'a> Events<'a> {
    fn new(body: &'a str) -> Self {
        Self {
            parser: Parser::new_from_str(body),
        }
    }

    fn next(&mut self) -> Result<(Event<'a>, Span), SetupError> {
        loop {
            match self.parser.next_event() {
                None => return Err(malformed("the YAML ends early")),
                Some(Err(e)) => return Err(malformed(format!("not valid YAML: {e}"))),
                #[allow(unreachable_patterns)]
                Some(Ok((Event::Comment(..), _))) | Some(Ok((Event::Anchor(..), _))) => {}
                Some(Ok(ev)) => return Ok(ev),
            }
        }
    }

    /// Consume the rest of a node whose first event was `first`.
    fn skip(&mut self, first: &Event<'_>) -> Result<(), SetupError> {
        let mut depth = match first {
            Event::MappingStart(..) | Event::SequenceStart(..) => 1usize,
            _ => return Ok(()),
        };
        while depth > 0 {
            match self.next()?.0 {
                Event::MappingStart(..) | Event::SequenceStart(..) => depth += 1,
                Event::MappingEnd | Event::SequenceEnd => depth -= 1,
                Event::StreamEnd => return Err(malformed("the YAML ends early")),
                _ => {}
            }
        }
        Ok(())
    }

    /// The next mapping key (a scalar), or `None` at the mapping's end.
    fn key(&mut self, within: &str) -> Result<Option<String>, SetupError> {
        match self.next()?.0 {
            Event::MappingEnd => Ok(None),
            Event::Scalar(k, ..) => Ok(Some(k.into_owned())),
            _ => Err(malformed(format!(
                "{within} has a key that is not a plain string"
            ))),
        }
    }
}

fn is_json(body: &str) -> bool {
    body.trim_start().starts_with('{') && serde_json::from_str::<serde_json::Value>(body).is_ok()
}

/// Every resource under the top-level `Resources` mapping, in source order.
fn sites(body: &str) -> Result<Vec<Site>, SetupError> {
    let mut ev = Events::new(body);
    loop {
        match ev.next()?.0 {
            Event::StreamStart | Event::DocumentStart(..) => {}
            Event::MappingStart(..) => break,
            _ => return Err(malformed("the template is not a YAML or JSON mapping")),
        }
    }
    let mut found = None;
    while let Some(key) = ev.key("the template")? {
        let (value, _) = ev.next()?;
        if key == "Resources" && found.is_none() {
            let Event::MappingStart(..) = value else {
                return Err(malformed("its Resources is not a mapping"));
            };
            found = Some(resources(&mut ev)?);
        } else {
            ev.skip(&value)?;
        }
    }
    found.ok_or_else(|| malformed("it has no Resources mapping"))
}

fn resources(ev: &mut Events<'_>) -> Result<Vec<Site>, SetupError> {
    let mut out = vec![];
    while let Some(logical_id) = ev.key("Resources")? {
        let (value, start) = ev.next()?;
        let Event::MappingStart(style, ..) = value else {
            return Err(malformed(format!(
                "resource {logical_id} is not a mapping (an alias or a scalar); write it out as \
                 a mapping with Type and Properties"
            )));
        };
        let mut policy = None;
        while let Some(key) = ev.key(&format!("resource {logical_id}"))? {
            let (value, span) = ev.next()?;
            if key == KEY {
                policy = Some(match &value {
                    Event::Scalar(v, s, _, None) => Policy {
                        value: Some(v.to_string()),
                        style: Some(*s),
                        span,
                    },
                    _ => Policy {
                        value: None,
                        style: None,
                        span,
                    },
                });
            }
            ev.skip(&value)?;
        }
        out.push(Site {
            logical_id,
            style,
            start,
            policy,
        });
    }
    Ok(out)
}

fn byte(body: &str, span_marker: &granit_parser::Marker) -> Result<usize, SetupError> {
    span_marker
        .byte_offset()
        .filter(|b| *b <= body.len() && body.is_char_boundary(*b))
        .ok_or_else(|| malformed("the YAML parser gave no usable source position"))
}

/// The template with `DeletionPolicy: Retain` on every resource (an existing `DeletionPolicy` is
/// rewritten in place). JSON templates are edited as JSON; YAML templates in place, keeping
/// comments, flow style and short-form tags.
pub fn retain_template(body: &str) -> Result<String, SetupError> {
    if is_json(body) {
        return retain_json(body);
    }
    let mut edits: Vec<(usize, usize, String)> = vec![];
    for site in sites(body)? {
        match &site.policy {
            Some(Policy {
                value: Some(v),
                style,
                span,
            }) => {
                if v != RETAIN {
                    let text = if *style == Some(ScalarStyle::Plain) {
                        RETAIN.to_string()
                    } else {
                        format!("\"{RETAIN}\"")
                    };
                    edits.push((byte(body, &span.start)?, byte(body, &span.end)?, text));
                }
            }
            Some(Policy { value: None, .. }) => {
                return Err(malformed(format!(
                    "resource {} has a DeletionPolicy that is not a plain value; set it to \
                     Retain in the stack by hand, then re-run",
                    site.logical_id
                )))
            }
            None if site.style == StructureStyle::Flow => {
                // After the `{`; a trailing separator unless the mapping is empty.
                let at = byte(body, &site.start.end)?;
                let empty = body[at..].trim_start().starts_with('}');
                let text = if empty {
                    format!("{KEY}: {RETAIN}")
                } else {
                    format!("{KEY}: {RETAIN}, ")
                };
                edits.push((at, at, text));
            }
            None => {
                // A new line above the resource's first key, at the same indentation.
                let key_at = byte(body, &site.start.start)?;
                let line_start = body[..key_at].rfind('\n').map_or(0, |i| i + 1);
                let indent = &body[line_start..key_at];
                if !indent.chars().all(|c| c == ' ') {
                    return Err(malformed(format!(
                        "resource {} starts on a line shared with other content; put its first \
                         key on a line of its own",
                        site.logical_id
                    )));
                }
                edits.push((line_start, line_start, format!("{indent}{KEY}: {RETAIN}\n")));
            }
        }
    }
    let mut out = body.to_string();
    edits.sort_by_key(|(from, ..)| std::cmp::Reverse(*from));
    for (from, to, text) in edits {
        out.replace_range(from..to, &text);
    }
    Ok(out)
}

fn retain_json(body: &str) -> Result<String, SetupError> {
    let mut v: serde_json::Value =
        serde_json::from_str(body).map_err(|e| malformed(e.to_string()))?;
    let resources = v
        .get_mut("Resources")
        .and_then(|r| r.as_object_mut())
        .ok_or_else(|| malformed("it has no Resources object"))?;
    for (id, r) in resources.iter_mut() {
        let o = r
            .as_object_mut()
            .ok_or_else(|| malformed(format!("resource {id} is not an object")))?;
        o.insert(KEY.into(), RETAIN.into());
    }
    serde_json::to_string_pretty(&v).map_err(|e| malformed(e.to_string()))
}

/// Each resource's `DeletionPolicy` as the template writes it (`None`: not set, or not a plain
/// value).
pub fn deletion_policies(body: &str) -> Result<BTreeMap<String, Option<String>>, SetupError> {
    if is_json(body) {
        let v: serde_json::Value =
            serde_json::from_str(body).map_err(|e| malformed(e.to_string()))?;
        let resources = v
            .get("Resources")
            .and_then(|r| r.as_object())
            .ok_or_else(|| malformed("it has no Resources object"))?;
        return Ok(resources
            .iter()
            .map(|(id, r)| {
                (
                    id.clone(),
                    r.get(KEY).and_then(|p| p.as_str()).map(str::to_string),
                )
            })
            .collect());
    }
    Ok(sites(body)?
        .into_iter()
        .map(|s| (s.logical_id, s.policy.and_then(|p| p.value)))
        .collect())
}

/// The logical ids among `listed` whose `DeletionPolicy` in `body` is not `Retain` (a resource
/// the template does not have counts as not retained).
pub fn not_retained(body: &str, listed: &[String]) -> Result<Vec<String>, SetupError> {
    let policies = deletion_policies(body)?;
    Ok(listed
        .iter()
        .filter(|id| policies.get(*id).cloned().flatten().as_deref() != Some(RETAIN))
        .cloned()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_retained(body: &str) -> bool {
        deletion_policies(body)
            .unwrap()
            .values()
            .all(|v| v.as_deref() == Some(RETAIN))
    }

    #[test]
    fn yaml_templates_get_retain_on_every_resource() {
        let body = "AWSTemplateFormatVersion: \"2010-09-09\"\nResources:\n  # the role\n  Role:\n    Type: AWS::IAM::Role\n    DeletionPolicy: Delete\n    Properties:\n      RoleName: !Sub \"r-${X}\"\n      Nested:\n        Key: v\n  Queue:\n    Type: AWS::SQS::Queue\nOutputs:\n  Out:\n    Value: x\n";
        let out = retain_template(body).unwrap();
        assert_eq!(out.matches("DeletionPolicy: Retain").count(), 2, "{out}");
        assert!(!out.contains("DeletionPolicy: Delete"));
        // An existing policy is rewritten where it stands; a missing one goes first.
        assert!(out.contains("  Role:\n    Type: AWS::IAM::Role\n    DeletionPolicy: Retain\n"));
        assert!(out.contains("  Queue:\n    DeletionPolicy: Retain\n    Type: AWS::SQS::Queue"));
        assert!(out.contains("Outputs:\n  Out:\n    Value: x"), "{out}");
        assert!(out.contains("RoleName: !Sub \"r-${X}\""));
        assert!(all_retained(&out));
    }

    #[test]
    fn block_resources_get_a_line_at_their_own_indentation() {
        let body = "Resources:\n  Role:\n    Type: AWS::IAM::Role\n    Properties:\n      RoleName: !Sub \"r-${X}\"\n";
        let out = retain_template(body).unwrap();
        assert_eq!(
            out,
            "Resources:\n  Role:\n    DeletionPolicy: Retain\n    Type: AWS::IAM::Role\n    Properties:\n      RoleName: !Sub \"r-${X}\"\n"
        );
    }

    #[test]
    fn a_comment_after_the_resource_header_does_not_hide_it() {
        // The line-based rewrite this replaces added nothing here.
        let body = "Resources:\n  Role: # the node role\n    # its type\n    Type: AWS::IAM::Role\n  Queue:\n\n    Type: AWS::SQS::Queue # q\n";
        let out = retain_template(body).unwrap();
        assert!(all_retained(&out), "{out}");
        assert_eq!(deletion_policies(&out).unwrap().len(), 2);
        assert!(out.contains("  Role: # the node role\n    # its type\n    DeletionPolicy: Retain\n    Type: AWS::IAM::Role\n"), "{out}");
    }

    #[test]
    fn flow_resources_get_the_key_inside_their_braces() {
        let body = "Resources:\n  Queue: {Type: AWS::SQS::Queue, Properties: {QueueName: !Ref X}}\n  Empty: {}\n  Multi: {\n    Type: T\n  }\n";
        let out = retain_template(body).unwrap();
        assert!(out.contains(
            "Queue: {DeletionPolicy: Retain, Type: AWS::SQS::Queue, Properties: {QueueName: !Ref X}}"
        ));
        assert!(out.contains("Empty: {DeletionPolicy: Retain}"), "{out}");
        assert!(all_retained(&out), "{out}");
        assert_eq!(deletion_policies(&out).unwrap().len(), 3);
    }

    #[test]
    fn a_flow_resources_mapping_is_handled_too() {
        let out =
            retain_template("Resources: {A: {Type: T}, B: {Type: T, DeletionPolicy: Delete}}\n")
                .unwrap();
        assert_eq!(
            out,
            "Resources: {A: {DeletionPolicy: Retain, Type: T}, B: {Type: T, DeletionPolicy: Retain}}\n"
        );
    }

    #[test]
    fn an_existing_policy_is_rewritten_in_place_keeping_its_quoting_valid() {
        let body = "Resources:\n  A:\n    DeletionPolicy: 'Delete'\n    Type: T\n  B:\n    Type: T\n    DeletionPolicy: Snapshot # was\n  C:\n    DeletionPolicy: Retain\n    Type: T\n";
        let out = retain_template(body).unwrap();
        assert_eq!(
            out,
            "Resources:\n  A:\n    DeletionPolicy: \"Retain\"\n    Type: T\n  B:\n    Type: T\n    DeletionPolicy: Retain # was\n  C:\n    DeletionPolicy: Retain\n    Type: T\n"
        );
    }

    #[test]
    fn shapes_that_cannot_be_edited_are_errors_naming_the_resource() {
        for (body, name) in [
            ("Resources:\n  A: &x {Type: T}\n  B: *x\n", "B"),
            (
                "Resources:\n  A:\n    DeletionPolicy: !If [c, Retain, Delete]\n    Type: T\n",
                "A",
            ),
            ("Resources:\n  A: plain\n", "A"),
        ] {
            let err = retain_template(body).unwrap_err().to_string();
            assert!(err.contains(&format!("resource {name}")), "{body}: {err}");
        }
        assert!(
            retain_template("Resources:\n  A: *x\n").is_err(),
            "unknown alias"
        );
        assert!(retain_template("Foo: bar\n").is_err());
        assert!(retain_template("Resources: [a]\n").is_err());
        assert!(retain_template("Resources:\n  A: {Type: T\n").is_err());
    }

    #[test]
    fn only_the_top_level_resources_are_edited() {
        let body = "Metadata:\n  Resources:\n    Fake:\n      Type: T\nResources:\n  Real:\n    Type: T\nOutputs:\n  O:\n    Value: !GetAtt Real.Arn\n";
        let out = retain_template(body).unwrap();
        assert_eq!(out.matches("DeletionPolicy").count(), 1, "{out}");
        assert!(out.contains("  Real:\n    DeletionPolicy: Retain\n    Type: T\n"));
        assert!(out.ends_with("Outputs:\n  O:\n    Value: !GetAtt Real.Arn\n"));
    }

    #[test]
    fn json_templates_get_retain_on_every_resource() {
        let out = retain_template(
            r#"{"Resources":{"A":{"Type":"T"},"B":{"Type":"T","DeletionPolicy":"Delete"}}}"#,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["Resources"]["A"]["DeletionPolicy"], "Retain");
        assert_eq!(v["Resources"]["B"]["DeletionPolicy"], "Retain");
        assert!(all_retained(&out));
    }

    #[test]
    fn not_retained_lists_what_a_stack_would_delete() {
        let body = "Resources:\n  A:\n    DeletionPolicy: Retain\n    Type: T\n  B: {Type: T}\n";
        let listed = vec!["A".to_string(), "B".to_string(), "Gone".to_string()];
        assert_eq!(not_retained(body, &listed).unwrap(), ["B", "Gone"]);
        let out = retain_template(body).unwrap();
        assert_eq!(not_retained(&out, &listed).unwrap(), ["Gone"]);
    }
}
