//! CloudFormation: the [`Stacks`] port used by `--from-cloudformation`.
use super::{optional, sdk_error, AwsLive};
use crate::setup::adopt::{retain_template, StackInfo, StackResource, Stacks};
use crate::setup::SetupError;

impl AwsLive {
    async fn stack_status(&self, name: &str) -> Result<Option<(String, Vec<String>)>, SetupError> {
        let out = optional(
            self.cfn
                .describe_stacks()
                .stack_name(name)
                .send()
                .await
                .map_err(|e| sdk_error("cloudformation:DescribeStacks", e)),
        )?;
        Ok(out
            .and_then(|o| o.stacks.and_then(|s| s.into_iter().next()))
            .map(|s| {
                (
                    s.stack_status()
                        .map(|st| st.as_str().to_string())
                        .unwrap_or_default(),
                    s.parameters()
                        .iter()
                        .filter_map(|p| p.parameter_key().map(str::to_string))
                        .collect(),
                )
            }))
    }

    /// Wait until the stack leaves `*_IN_PROGRESS`; returns the final status (`None`: gone).
    async fn wait_stack(&self, name: &str) -> Result<Option<String>, SetupError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30 * 60);
        loop {
            let status = self.stack_status(name).await?.map(|(s, _)| s);
            match &status {
                Some(s) if s.ends_with("_IN_PROGRESS") => {}
                _ => return Ok(status),
            }
            if std::time::Instant::now() > deadline {
                return Err(SetupError::Aws {
                    action: "cloudformation:DescribeStacks".into(),
                    message: format!("stack {name} is still {status:?} after 30 minutes"),
                });
            }
            tokio::time::sleep(self.poll).await;
        }
    }
}

/// Whether a stack may be deleted after the update that sets `DeletionPolicy: Retain`: an update
/// that was made must have completed (`UPDATE_ROLLBACK_COMPLETE` means it was undone and
/// nothing is retained); with nothing to update the template already retains everything, so
/// any settled state an earlier change left is fine. A stack that is gone needs no delete.
fn retained_after_update(updated: bool, status: Option<&str>) -> bool {
    match status {
        None => true,
        Some(s) if updated => s == "UPDATE_COMPLETE",
        Some(s) => matches!(
            s,
            "UPDATE_COMPLETE" | "CREATE_COMPLETE" | "UPDATE_ROLLBACK_COMPLETE"
        ),
    }
}

impl Stacks for AwsLive {
    async fn describe_stack(&self, name: &str) -> Result<Option<StackInfo>, SetupError> {
        let Some((status, _)) = self.stack_status(name).await? else {
            return Ok(None);
        };
        let out = self
            .cfn
            .describe_stack_resources()
            .stack_name(name)
            .send()
            .await
            .map_err(|e| sdk_error("cloudformation:DescribeStackResources", e))?;
        let resources = out
            .stack_resources()
            .iter()
            .filter_map(|r| {
                Some(StackResource {
                    logical_id: r.logical_resource_id()?.to_string(),
                    resource_type: r.resource_type().unwrap_or_default().to_string(),
                    physical_id: r.physical_resource_id().unwrap_or_default().to_string(),
                })
            })
            .collect();
        Ok(Some(StackInfo {
            name: name.to_string(),
            status,
            resources,
        }))
    }

    async fn retain_and_delete(&self, name: &str) -> Result<(), SetupError> {
        let Some((_, parameters)) = self.stack_status(name).await? else {
            return Err(SetupError::NotFound {
                action: "cloudformation:DescribeStacks".into(),
                message: format!("stack {name} does not exist"),
            });
        };
        let body = self
            .cfn
            .get_template()
            .stack_name(name)
            .send()
            .await
            .map_err(|e| sdk_error("cloudformation:GetTemplate", e))?
            .template_body
            .ok_or_else(|| SetupError::Malformed {
                what: format!("the template of stack {name}"),
                message: "GetTemplate returned no body".into(),
            })?;
        let retained = retain_template(&body)?;
        let mut update = self
            .cfn
            .update_stack()
            .stack_name(name)
            .template_body(retained)
            .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityIam)
            .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityNamedIam);
        for key in parameters {
            update = update.parameters(
                aws_sdk_cloudformation::types::Parameter::builder()
                    .parameter_key(key)
                    .use_previous_value(true)
                    .build(),
            );
        }
        let updated = match update
            .send()
            .await
            .map_err(|e| sdk_error("cloudformation:UpdateStack", e))
        {
            Ok(_) => true,
            // Already retained by an earlier, interrupted run.
            Err(SetupError::Aws { message, .. })
                if message.contains("No updates are to be performed") =>
            {
                false
            }
            Err(e) => return Err(e),
        };
        match self.wait_stack(name).await?.as_deref() {
            status if retained_after_update(updated, status) => {}
            status => {
                let other = status.unwrap_or("unknown");
                return Err(SetupError::Aws {
                    action: "cloudformation:UpdateStack".into(),
                    message: format!(
                        "stack {name} ended in {other} while setting DeletionPolicy: Retain; nothing was deleted"
                    ),
                });
            }
        }
        self.cfn
            .delete_stack()
            .stack_name(name)
            .send()
            .await
            .map_err(|e| sdk_error("cloudformation:DeleteStack", e))?;
        match self.wait_stack(name).await?.as_deref() {
            None | Some("DELETE_COMPLETE") => Ok(()),
            Some(other) => Err(SetupError::Aws {
                action: "cloudformation:DeleteStack".into(),
                message: format!("stack {name} ended in {other}"),
            }),
        }
    }

    async fn rules_targeting(&self, arn: &str) -> Result<Vec<String>, SetupError> {
        self.rule_names_by_target(arn).await
    }
}

#[cfg(test)]
mod tests {
    use super::retained_after_update;

    #[test]
    fn a_rolled_back_retain_update_stops_the_stack_deletion() {
        assert!(retained_after_update(true, Some("UPDATE_COMPLETE")));
        assert!(
            !retained_after_update(true, Some("UPDATE_ROLLBACK_COMPLETE")),
            "the Retain policies were rolled back: deleting the stack would delete the resources"
        );
        assert!(!retained_after_update(true, Some("UPDATE_FAILED")));
        // nothing to update: an earlier run already retained everything
        assert!(retained_after_update(
            false,
            Some("UPDATE_ROLLBACK_COMPLETE")
        ));
        assert!(retained_after_update(false, Some("CREATE_COMPLETE")));
        assert!(!retained_after_update(false, Some("ROLLBACK_COMPLETE")));
        assert!(retained_after_update(true, None));
    }
}
