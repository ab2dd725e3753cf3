//! CloudFormation: the [`Stacks`] port used by `--from-cloudformation`.
use super::{optional, sdk_error, AwsLive};
use crate::setup::adopt::{StackInfo, StackResource, Stacks};
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
    async fn wait_for_stack(&self, name: &str) -> Result<Option<String>, SetupError> {
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
            // AWS names every resource; moto lists the ones it does not emulate (and, after an
            // update, some it does) as rows without a logical id, which name nothing to keep.
            .filter_map(|r| {
                Some(StackResource {
                    logical_id: r
                        .logical_resource_id()
                        .filter(|id| !id.is_empty())?
                        .to_string(),
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

    async fn stack_template(&self, name: &str) -> Result<String, SetupError> {
        self.cfn
            .get_template()
            .stack_name(name)
            .send()
            .await
            .map_err(|e| sdk_error("cloudformation:GetTemplate", e))?
            .template_body
            .ok_or_else(|| SetupError::Malformed {
                what: format!("the template of stack {name}"),
                message: "GetTemplate returned no body".into(),
            })
    }

    async fn update_stack_template(&self, name: &str, body: &str) -> Result<bool, SetupError> {
        let Some((_, parameters)) = self.stack_status(name).await? else {
            return Err(SetupError::NotFound {
                action: "cloudformation:DescribeStacks".into(),
                message: format!("stack {name} does not exist"),
            });
        };
        let mut update = self
            .cfn
            .update_stack()
            .stack_name(name)
            .template_body(body)
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
        match update
            .send()
            .await
            .map_err(|e| sdk_error("cloudformation:UpdateStack", e))
        {
            Ok(_) => Ok(true),
            // Already retained by an earlier, interrupted run.
            Err(SetupError::Aws { message, .. })
                if message.contains("No updates are to be performed") =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    async fn wait_stack(&self, name: &str) -> Result<Option<String>, SetupError> {
        self.wait_for_stack(name).await
    }

    async fn delete_stack(&self, name: &str) -> Result<(), SetupError> {
        self.cfn
            .delete_stack()
            .stack_name(name)
            .send()
            .await
            .map_err(|e| sdk_error("cloudformation:DeleteStack", e))?;
        Ok(())
    }

    async fn rules_targeting(&self, arn: &str) -> Result<Vec<String>, SetupError> {
        self.rule_names_by_target(arn).await
    }
}
