//! EventBridge: the interruption rules and their queue targets.
use aws_sdk_eventbridge::types::RuleState;

use super::{document, misrouted, optional, sdk_error, AwsLive};
use crate::setup::desired::Tags;
use crate::setup::desired::TargetSpec;
use crate::setup::live::{LiveRule, Operation, TagTarget};
use crate::setup::SetupError;

impl AwsLive {
    pub(super) async fn read_rule(&self, name: &str) -> Result<Option<LiveRule>, SetupError> {
        let out = optional(
            self.events
                .describe_rule()
                .name(name)
                .send()
                .await
                .map_err(|e| sdk_error("events:DescribeRule", e)),
        )?;
        let Some(rule) = out else {
            return Ok(None);
        };
        let pattern = match rule.event_pattern() {
            Some(p) => Some(document(
                &format!("the event pattern of rule {name}"),
                Some(p),
            )?),
            None => None,
        };
        let targets = self
            .events
            .list_targets_by_rule()
            .rule(name)
            .send()
            .await
            .map_err(|e| sdk_error("events:ListTargetsByRule", e))?;
        let tags = match rule.arn() {
            Some(arn) => self.rule_tags(arn).await?,
            None => Tags::new(),
        };
        Ok(Some(LiveRule {
            tags,
            name: name.to_string(),
            pattern,
            state: rule.state().map_or("ENABLED", |s| s.as_str()).to_string(),
            targets: targets
                .targets()
                .iter()
                .map(|t| TargetSpec {
                    id: t.id().to_string(),
                    arn: t.arn().to_string(),
                })
                .collect(),
        }))
    }

    async fn rule_tags(&self, arn: &str) -> Result<Tags, SetupError> {
        let out = self
            .events
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| sdk_error("events:ListTagsForResource", e))?;
        Ok(out
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect())
    }

    /// Names of the rules on the default bus that target `arn`.
    pub(super) async fn rule_names_by_target(&self, arn: &str) -> Result<Vec<String>, SetupError> {
        let mut names = vec![];
        let mut token: Option<String> = None;
        loop {
            let out = self
                .events
                .list_rule_names_by_target()
                .target_arn(arn)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| sdk_error("events:ListRuleNamesByTarget", e))?;
            names.extend(out.rule_names().iter().cloned());
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(names);
            }
        }
    }

    /// Apply one events operation.
    pub(super) async fn apply_events(&self, op: &Operation) -> Result<(), SetupError> {
        let a = op.api_action();
        match op {
            Operation::PutRule {
                name,
                pattern,
                description,
                tags,
            } => {
                self.events
                    .put_rule()
                    .name(name)
                    .event_pattern(pattern.to_string())
                    .state(RuleState::Enabled)
                    .description(description)
                    .set_tags((!tags.is_empty()).then(|| events_tags(tags)))
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::PutTargets { rule, targets } => {
                let mut req = self.events.put_targets().rule(rule);
                for t in targets {
                    let target = aws_sdk_eventbridge::types::Target::builder()
                        .id(&t.id)
                        .arn(&t.arn)
                        .build()
                        .map_err(|e| SetupError::Aws {
                            action: a.into(),
                            message: e.to_string(),
                        })?;
                    req = req.targets(target);
                }
                let out = req.send().await.map_err(|e| sdk_error(a, e))?;
                if let Some(entry) = out.failed_entries().first() {
                    return Err(SetupError::Aws {
                        action: a.into(),
                        message: format!(
                            "target {} of rule {rule}: {} {}",
                            entry.target_id().unwrap_or("?"),
                            entry.error_code().unwrap_or(""),
                            entry.error_message().unwrap_or("")
                        ),
                    });
                }
            }
            Operation::Tag {
                resource: TagTarget::Rule { arn, .. },
                tags,
            } => {
                self.events
                    .tag_resource()
                    .resource_arn(arn)
                    .set_tags(Some(events_tags(tags)))
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::RemoveTargets { rule, ids } => {
                self.events
                    .remove_targets()
                    .rule(rule)
                    .set_ids(Some(ids.clone()))
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::DeleteRule { name } => {
                self.events
                    .delete_rule()
                    .name(name)
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            other => return Err(misrouted("events", other)),
        }
        Ok(())
    }
}

fn events_tags(tags: &Tags) -> Vec<aws_sdk_eventbridge::types::Tag> {
    tags.iter()
        .filter_map(|(k, v)| {
            aws_sdk_eventbridge::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .ok()
        })
        .collect()
}
