//! SQS: the interruption queue and its policy.
use std::collections::{BTreeMap, HashMap};

use aws_sdk_sqs::types::QueueAttributeName;

use super::{document, misrouted, optional, sdk_error, AwsLive};
use crate::setup::live::{LiveQueue, Operation, TagTarget};
use crate::setup::SetupError;

impl AwsLive {
    pub(super) async fn queue_url(&self, name: &str) -> Result<String, SetupError> {
        let out = self
            .sqs
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .map_err(|e| sdk_error("sqs:GetQueueUrl", e))?;
        out.queue_url.ok_or_else(|| SetupError::Malformed {
            what: format!("queue {name}"),
            message: "GetQueueUrl returned no URL".into(),
        })
    }

    pub(super) async fn read_queue(&self, name: &str) -> Result<Option<LiveQueue>, SetupError> {
        let Some(url) = optional(self.queue_url(name).await)? else {
            return Ok(None);
        };
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .map_err(|e| sdk_error("sqs:GetQueueAttributes", e))?;
        let mut attributes = BTreeMap::new();
        let mut policy = None;
        for (k, v) in out.attributes.unwrap_or_default() {
            if k == QueueAttributeName::Policy {
                policy = Some(document(&format!("the queue policy of {name}"), Some(&v))?);
            } else {
                attributes.insert(k.as_str().to_string(), v);
            }
        }
        let tags = self
            .sqs
            .list_queue_tags()
            .queue_url(&url)
            .send()
            .await
            .map_err(|e| sdk_error("sqs:ListQueueTags", e))?
            .tags
            .unwrap_or_default()
            .into_iter()
            .collect();
        Ok(Some(LiveQueue {
            url,
            attributes,
            policy,
            tags,
        }))
    }

    /// Apply one sqs operation.
    pub(super) async fn apply_sqs(&self, op: &Operation) -> Result<(), SetupError> {
        let a = op.api_action();
        match op {
            Operation::CreateQueue {
                name,
                attributes,
                tags,
            } => {
                self.sqs
                    .create_queue()
                    .queue_name(name)
                    .set_tags(Some(tags.clone().into_iter().collect()))
                    .set_attributes(Some(sqs_attributes(attributes)))
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::SetQueueAttributes { name, attributes } => {
                let url = self.queue_url(name).await?;
                self.sqs
                    .set_queue_attributes()
                    .queue_url(url)
                    .set_attributes(Some(sqs_attributes(attributes)))
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::Tag {
                resource: TagTarget::Queue(name),
                tags,
            } => {
                let url = self.queue_url(name).await?;
                self.sqs
                    .tag_queue()
                    .queue_url(url)
                    .set_tags(Some(tags.clone().into_iter().collect()))
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::DeleteQueue { name } => {
                let url = self.queue_url(name).await?;
                self.sqs
                    .delete_queue()
                    .queue_url(url)
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            other => return Err(misrouted("sqs", other)),
        }
        Ok(())
    }
}

fn sqs_attributes(attrs: &BTreeMap<String, String>) -> HashMap<QueueAttributeName, String> {
    attrs
        .iter()
        .map(|(k, v)| (QueueAttributeName::from(k.as_str()), v.clone()))
        .collect()
}
