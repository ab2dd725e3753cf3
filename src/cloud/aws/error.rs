//! One error taxonomy for every AWS call: callers branch on the kind (retry, mark an offering
//! unavailable, create on not-found, ...) and users read one paragraph that says what to do.
use std::error::Error as StdError;
use std::fmt::Write as _;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// The AWS adapter's errors reach the cloud-provider port boxed: the port names no AWS type, and the
/// message is unchanged. The provider maps instance not-found and insufficient capacity itself, where it
/// knows the instance id and the NodeClaim.
impl From<AwsError> for crate::cloud::provider::CloudError {
    fn from(err: AwsError) -> Self {
        crate::cloud::provider::CloudError::provider(err)
    }
}

/// An AWS API failure, classified by what the caller can do about it.
///
/// `action` is the IAM action of the failed call, e.g. `iam:CreateRole`; `code` is the AWS
/// error code (or a transport description when the request never got an AWS answer).
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// Throttling, a server-side (5xx) failure or a timeout: the same call may succeed later.
    #[error("{action} failed on the AWS side and can be retried ({code}: {message})")]
    Retryable {
        action: String,
        code: String,
        message: String,
    },
    /// EC2 could not provide the requested capacity (Karpenter's "ICE" codes).
    #[error(
        "{action}: AWS has no capacity for this request ({code}: {message}); try other \
         instance types, availability zones or capacity types"
    )]
    InsufficientCapacity {
        action: String,
        code: String,
        message: String,
    },
    /// The caller's IAM identity lacks a permission.
    #[error(
        "not authorized to perform {action} ({code}: {message}); grant `{action}` to the IAM \
         identity in use (`aws sts get-caller-identity` shows which one), or use --profile to pick \
         another"
    )]
    Unauthorized {
        action: String,
        code: String,
        message: String,
    },
    /// The named resource does not exist.
    #[error("{action}: not found ({code}: {message})")]
    NotFound {
        action: String,
        code: String,
        message: String,
    },
    /// A resource with that name already exists.
    #[error("{action}: already exists ({code}: {message})")]
    AlreadyExists {
        action: String,
        code: String,
        message: String,
    },
    /// No usable credentials, or AWS rejected them. The text is a complete explanation.
    #[error("{0}")]
    Credentials(String),
    /// No region could be determined. The text is a complete explanation.
    #[error("{0}")]
    Region(String),
    /// Anything else (validation errors, malformed requests, unreachable endpoints...).
    #[error("{action} failed ({code}: {message})")]
    Other {
        action: String,
        code: String,
        message: String,
    },
}

impl AwsError {
    /// True when repeating the same call later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, AwsError::Retryable { .. })
    }

    /// True for [`AwsError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, AwsError::NotFound { .. })
    }

    /// True for [`AwsError::AlreadyExists`].
    pub fn is_already_exists(&self) -> bool {
        matches!(self, AwsError::AlreadyExists { .. })
    }

    /// The AWS error code, when the failure came from an API call.
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Retryable { code, .. }
            | AwsError::InsufficientCapacity { code, .. }
            | AwsError::Unauthorized { code, .. }
            | AwsError::NotFound { code, .. }
            | AwsError::AlreadyExists { code, .. }
            | AwsError::Other { code, .. } => Some(code),
            AwsError::Credentials(_) | AwsError::Region(_) => None,
        }
    }

    /// The IAM action of the failed call (e.g. `ec2:CreateFleet`), when it came from an API call.
    pub fn action(&self) -> Option<&str> {
        match self {
            AwsError::Retryable { action, .. }
            | AwsError::InsufficientCapacity { action, .. }
            | AwsError::Unauthorized { action, .. }
            | AwsError::NotFound { action, .. }
            | AwsError::AlreadyExists { action, .. }
            | AwsError::Other { action, .. } => Some(action),
            AwsError::Credentials(_) | AwsError::Region(_) => None,
        }
    }
}

const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "RequestThrottled",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    "BandwidthLimitExceeded",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalServiceError",
    "InternalServiceException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "Unavailable",
];

/// Karpenter's unfulfillable-capacity codes (`pkg/errors/errors.go`) plus EC2's other
/// insufficient-capacity codes.
const INSUFFICIENT_CAPACITY: &[&str] = &[
    "InsufficientInstanceCapacity",
    "InsufficientCapacity",
    "InsufficientHostCapacity",
    "InsufficientReservedInstanceCapacity",
    "MaxSpotInstanceCountExceeded",
    "MaxSpotFleetRequestCountExceeded",
    "MaxFleetCountExceeded",
    "VcpuLimitExceeded",
    "UnfulfillableCapacity",
    "Unsupported",
    "InsufficientFreeAddressesInSubnet",
    "ReservationCapacityExceeded",
];

const UNAUTHORIZED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "AuthorizationError",
    "Forbidden",
];

/// Codes that mean AWS rejected the credentials themselves, not a permission.
const BAD_CREDENTIALS: &[&str] = &[
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "AuthFailure",
    "InvalidAccessKeyId",
    "IncompleteSignature",
    "RequestExpired",
];

const NOT_FOUND: &[&str] = &[
    "NoSuchEntity",
    "NoSuchEntityException",
    "ResourceNotFoundException",
    "ResourceNotFound",
    "NotFoundException",
    "ParameterNotFound",
    "ParameterVersionNotFound",
    "QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue",
    "StackNotFoundException",
];

const ALREADY_EXISTS: &[&str] = &[
    "EntityAlreadyExists",
    "EntityAlreadyExistsException",
    "AlreadyExistsException",
    "ResourceAlreadyExistsException",
    "QueueAlreadyExists",
    "QueueNameExists",
    "ParameterAlreadyExists",
];

/// Classify an AWS error code (with its message and HTTP status, when known) for `action`.
///
/// Used for `SdkError`s through [`classify`], and directly for per-item errors that AWS returns
/// inside a successful response (e.g. `CreateFleet`'s `Errors[]`).
pub fn classify_code(
    action: &str,
    code: Option<&str>,
    message: Option<&str>,
    status: Option<u16>,
) -> AwsError {
    let message = match message.map(str::trim).filter(|m| !m.is_empty()) {
        Some(m) => m.to_string(),
        None if status.is_some_and(|s| s >= 500) => "the service answered without an AWS error \
             body (an AWS outage, or an operation or filter that a test endpoint such as moto does \
             not implement)"
            .to_string(),
        None => "no message".to_string(),
    };
    let code_str = match (code, status) {
        (Some(c), _) if !c.is_empty() => c.to_string(),
        (_, Some(s)) => format!("HTTP {s}"),
        _ => "unknown error".to_string(),
    };
    let action = action.to_string();
    let c = code.unwrap_or("");
    let in_list = |list: &[&str]| list.contains(&c);

    if in_list(INSUFFICIENT_CAPACITY) {
        return AwsError::InsufficientCapacity {
            action,
            code: code_str,
            message,
        };
    }
    if in_list(BAD_CREDENTIALS) {
        return AwsError::Credentials(format!(
            "AWS rejected the credentials while calling {action} ({code_str}: {message}). They are \
             expired, revoked or for another partition: refresh them (for SSO profiles run `aws sso \
             login --profile NAME`; otherwise re-export AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and \
             AWS_SESSION_TOKEN) and check the clock of this machine."
        ));
    }
    if in_list(UNAUTHORIZED) || (c.is_empty() && status == Some(403)) {
        let action = action_in_message(&message).unwrap_or(action);
        return AwsError::Unauthorized {
            action,
            code: code_str,
            message,
        };
    }
    if in_list(THROTTLING) || status.is_some_and(|s| s == 429 || (500..600).contains(&s)) {
        return AwsError::Retryable {
            action,
            code: code_str,
            message,
        };
    }
    let cfn_missing_stack = c == "ValidationError" && message.contains("does not exist");
    if in_list(NOT_FOUND)
        || c.ends_with(".NotFound")
        || c.ends_with(".NotFoundException")
        || cfn_missing_stack
        || (c.is_empty() && status == Some(404))
    {
        return AwsError::NotFound {
            action,
            code: code_str,
            message,
        };
    }
    if in_list(ALREADY_EXISTS)
        || c.ends_with(".AlreadyExistsException")
        || c.ends_with(".AlreadyExists")
        || c.ends_with(".Duplicate")
    {
        return AwsError::AlreadyExists {
            action,
            code: code_str,
            message,
        };
    }
    AwsError::Other {
        action,
        code: code_str,
        message,
    }
}

/// Classify a failed SDK call made for the IAM action `action` (e.g. `"iam:CreateRole"`).
pub fn classify<E>(action: &str, err: SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    match &err {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let e = ctx.err();
            classify_code(action, e.code(), e.message(), Some(status))
        }
        SdkError::TimeoutError(_) => AwsError::Retryable {
            action: action.to_string(),
            code: "timeout".to_string(),
            message: causes(&err),
        },
        SdkError::DispatchFailure(d) => {
            let message = format!(
                "could not reach the AWS endpoint: {}; check the region name (a misspelled region such \
                 as us-wset-2 has no endpoint, so its host name does not resolve), the network, \
                 proxy settings and any endpoint override (AWS_ENDPOINT_URL, profile endpoint_url)",
                causes(&err)
            );
            if d.is_timeout() {
                AwsError::Retryable {
                    action: action.to_string(),
                    code: "timeout".to_string(),
                    message,
                }
            } else {
                AwsError::Other {
                    action: action.to_string(),
                    code: "network error".to_string(),
                    message,
                }
            }
        }
        SdkError::ResponseError(r) => {
            let status = r.raw().status().as_u16();
            let message = format!("unreadable response: {}", DisplayErrorContext(&err));
            classify_code(action, None, Some(&message), Some(status))
        }
        _ => AwsError::Other {
            action: action.to_string(),
            code: "request not sent".to_string(),
            message: format!("{}", DisplayErrorContext(&err)),
        },
    }
}

/// The causes of an error, without its own (generic) top-level text.
fn causes(err: &(dyn StdError + 'static)) -> String {
    match err.source() {
        Some(source) => display_chain(source),
        None => err.to_string(),
    }
}

impl<E> From<SdkError<E, HttpResponse>> for AwsError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    /// Classify with the IAM action derived from the operation's error type
    /// (`aws_sdk_iam::operation::create_role::CreateRoleError` gives `iam:CreateRole`).
    fn from(err: SdkError<E, HttpResponse>) -> Self {
        classify(&action_from_type_name(std::any::type_name::<E>()), err)
    }
}

/// The IAM action an SDK operation error type belongs to, e.g.
/// `aws_sdk_sqs::operation::get_queue_url::GetQueueUrlError` → `sqs:GetQueueUrl`.
pub fn action_from_type_name(type_name: &str) -> String {
    // Generic parameters never appear in operation error types, but be safe.
    let base = type_name.split('<').next().unwrap_or(type_name);
    let mut parts = base.split("::");
    let krate = parts.next().unwrap_or("");
    let last = base.rsplit("::").next().unwrap_or("");
    let service = match krate.strip_prefix("aws_sdk_") {
        Some("eventbridge") => "events",
        Some(s) if !s.is_empty() => s,
        _ => "aws",
    };
    let operation = last.strip_suffix("Error").unwrap_or(last);
    if operation.is_empty() {
        return format!("{service}:*");
    }
    format!("{service}:{operation}")
}

/// The action named in an AWS access-denied message ("... is not authorized to perform:
/// iam:CreateRole on resource ...").
fn action_in_message(message: &str) -> Option<String> {
    let idx = message.find("perform: ")?;
    let rest = &message[idx + "perform: ".len()..];
    let action: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == ':' || *c == '-' || *c == '*')
        .collect();
    let (service, op) = action.split_once(':')?;
    (!service.is_empty() && !op.is_empty()).then_some(action)
}

/// Render any error with its chain of causes on one line (for log lines and wrapped messages).
pub fn display_chain(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            let _ = write!(out, ": {text}");
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_iam::operation::create_role::CreateRoleError;
    use aws_sdk_sqs::operation::get_queue_url::GetQueueUrlError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    #[test]
    fn reaches_the_cloud_provider_port_boxed_with_its_message() {
        use crate::cloud::provider::CloudError;
        let aws = AwsError::Unauthorized {
            action: "ec2:CreateFleet".into(),
            code: "UnauthorizedOperation".into(),
            message: "no".into(),
        };
        let shown = aws.to_string();
        let err = CloudError::from(aws);
        assert_eq!(err.to_string(), shown);
        let CloudError::Provider(inner) = &err else {
            panic!("boxed as Provider: {err:?}");
        };
        assert!(matches!(
            inner.downcast_ref::<AwsError>(),
            Some(AwsError::Unauthorized { .. })
        ));
    }

    fn response(status: u16) -> HttpResponse {
        HttpResponse::new(
            StatusCode::try_from(status).expect("valid status"),
            SdkBody::empty(),
        )
    }

    fn iam_error(
        code: &str,
        message: &str,
        status: u16,
    ) -> SdkError<CreateRoleError, HttpResponse> {
        let meta = ErrorMetadata::builder().code(code).message(message).build();
        SdkError::service_error(CreateRoleError::generic(meta), response(status))
    }

    #[test]
    fn throttling_and_5xx_are_retryable() {
        for code in [
            "Throttling",
            "RequestLimitExceeded",
            "TooManyRequestsException",
        ] {
            let err = classify("iam:CreateRole", iam_error(code, "slow down", 400));
            assert!(err.is_retryable(), "{code} → {err:?}");
            assert_eq!(err.code(), Some(code));
        }
        let err = classify("iam:CreateRole", iam_error("", "boom", 503));
        assert!(err.is_retryable(), "{err:?}");
        assert_eq!(err.code(), Some("HTTP 503"));
    }

    #[test]
    fn capacity_codes_are_insufficient_capacity() {
        for code in [
            "InsufficientInstanceCapacity",
            "MaxSpotInstanceCountExceeded",
            "UnfulfillableCapacity",
            "InsufficientFreeAddressesInSubnet",
        ] {
            let err = classify_code("ec2:CreateFleet", Some(code), Some("no capacity"), None);
            assert!(
                matches!(err, AwsError::InsufficientCapacity { ref action, .. } if action == "ec2:CreateFleet"),
                "{code} → {err:?}"
            );
        }
    }

    #[test]
    fn access_denied_names_the_action_from_the_message() {
        let msg = "User: arn:aws:iam::123456789012:user/dev is not authorized to perform: \
                   iam:PassRole on resource: arn:aws:iam::123456789012:role/KarpenterNodeRole";
        let err = classify("iam:CreateRole", iam_error("AccessDenied", msg, 403));
        match &err {
            AwsError::Unauthorized { action, code, .. } => {
                assert_eq!(action, "iam:PassRole");
                assert_eq!(code, "AccessDenied");
            }
            other => panic!("expected Unauthorized, got {other:?}"),
        }
        assert!(err.to_string().contains("grant `iam:PassRole`"), "{err}");
    }

    #[test]
    fn access_denied_without_action_in_message_uses_the_tagged_action() {
        let err = classify(
            "iam:CreateRole",
            iam_error("AccessDenied", "Access denied", 403),
        );
        assert!(
            matches!(&err, AwsError::Unauthorized { action, .. } if action == "iam:CreateRole"),
            "{err:?}"
        );
        assert!(err.to_string().contains("iam:CreateRole"), "{err}");
    }

    #[test]
    fn from_derives_the_action_from_the_operation_type() {
        let err: AwsError = iam_error("AccessDenied", "Access denied", 403).into();
        assert_eq!(err.action(), Some("iam:CreateRole"));
        assert!(matches!(err, AwsError::Unauthorized { .. }));

        let meta = ErrorMetadata::builder()
            .code("AWS.SimpleQueueService.NonExistentQueue")
            .message("The specified queue does not exist.")
            .build();
        let err: AwsError =
            SdkError::service_error(GetQueueUrlError::generic(meta), response(400)).into();
        assert!(err.is_not_found(), "{err:?}");
        assert_eq!(err.action(), Some("sqs:GetQueueUrl"));
    }

    #[test]
    fn action_from_type_names() {
        assert_eq!(
            action_from_type_name("aws_sdk_eventbridge::operation::put_rule::PutRuleError"),
            "events:PutRule"
        );
        assert_eq!(
            action_from_type_name(std::any::type_name::<CreateRoleError>()),
            "iam:CreateRole"
        );
        assert_eq!(action_from_type_name("my_crate::Thing"), "aws:Thing");
    }

    #[test]
    fn not_found_and_already_exists() {
        let cases = [
            ("NoSuchEntity", true, false),
            ("InvalidInstanceID.NotFound", true, false),
            ("InvalidLaunchTemplateName.NotFoundException", true, false),
            ("ParameterNotFound", true, false),
            ("EntityAlreadyExists", false, true),
            (
                "InvalidLaunchTemplateName.AlreadyExistsException",
                false,
                true,
            ),
            ("InvalidGroup.Duplicate", false, true),
            ("MalformedPolicyDocument", false, false),
        ];
        for (code, nf, ae) in cases {
            let err = classify_code("x:Y", Some(code), Some("m"), Some(400));
            assert_eq!(err.is_not_found(), nf, "{code}");
            assert_eq!(err.is_already_exists(), ae, "{code}");
        }
        let err = classify_code(
            "cloudformation:DescribeStacks",
            Some("ValidationError"),
            Some("Stack with id Karpenter-demo does not exist"),
            Some(400),
        );
        assert!(err.is_not_found(), "{err:?}");
        let err = classify_code(
            "cloudformation:UpdateStack",
            Some("ValidationError"),
            Some("No updates are to be performed."),
            Some(400),
        );
        assert!(matches!(err, AwsError::Other { .. }), "{err:?}");
    }

    #[test]
    fn rejected_credentials_are_a_credentials_error() {
        let err = classify(
            "iam:CreateRole",
            iam_error("ExpiredToken", "token expired", 403),
        );
        match err {
            AwsError::Credentials(text) => {
                assert!(text.contains("iam:CreateRole"), "{text}");
                assert!(text.contains("aws sso login"), "{text}");
            }
            other => panic!("expected Credentials, got {other:?}"),
        }
    }

    #[test]
    fn timeouts_are_retryable_and_construction_failures_are_not() {
        let err: SdkError<CreateRoleError, HttpResponse> =
            SdkError::timeout_error("operation timed out");
        assert!(classify("iam:CreateRole", err).is_retryable());
        let err: SdkError<CreateRoleError, HttpResponse> =
            SdkError::construction_failure("missing RoleName");
        let err = classify("iam:CreateRole", err);
        assert!(matches!(err, AwsError::Other { .. }), "{err:?}");
        assert!(err.to_string().contains("missing RoleName"), "{err}");
    }

    #[test]
    fn network_errors_name_the_cause() {
        use aws_smithy_runtime_api::client::result::ConnectorError;
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err: SdkError<CreateRoleError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::io(Box::new(refused)));
        let err = classify("iam:CreateRole", err);
        assert!(matches!(err, AwsError::Other { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("could not reach the AWS endpoint"), "{text}");
        assert!(text.contains("refused"), "{text}");
        assert!(
            text.contains("check the region name"),
            "a region typo is the usual cause: {text}"
        );
        assert!(!text.contains("DispatchFailure"), "no Debug output: {text}");

        let slow = std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out");
        let err: SdkError<CreateRoleError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::timeout(Box::new(slow)));
        assert!(classify("iam:CreateRole", err).is_retryable());
    }

    #[test]
    fn server_errors_without_a_body_explain_themselves() {
        let err = classify_code("ec2:DescribeInstances", None, None, Some(500));
        assert!(err.is_retryable());
        assert!(err.to_string().contains("HTTP 500"), "{err}");
        assert!(err.to_string().contains("not implement"), "{err}");
    }

    proptest::proptest! {
        #[test]
        fn classification_never_panics_and_keeps_the_action(
            code in proptest::option::of("[A-Za-z.]{0,40}"),
            message in proptest::option::of(".{0,80}"),
            status in proptest::option::of(100u16..600),
        ) {
            let err = classify_code("ec2:CreateFleet", code.as_deref(), message.as_deref(), status);
            let rendered = err.to_string();
            proptest::prop_assert!(!rendered.is_empty());
            if let Some(action) = err.action() {
                // Unauthorized may name a more precise action found in the message.
                let unauthorized = matches!(err, AwsError::Unauthorized { .. });
                proptest::prop_assert!(action == "ec2:CreateFleet" || unauthorized);
            }
        }

        #[test]
        fn access_denied_action_is_found_anywhere_in_the_message(
            prefix in "[a-zA-Z0-9 /:,.-]{0,60}",
            service in "[a-z][a-z0-9-]{1,15}",
            operation in "[A-Z][A-Za-z0-9]{1,30}",
            suffix in "( on resource: arn:aws:[a-z]+::[0-9]{12}:[a-z/A-Z]+)?",
        ) {
            let message = format!("{prefix} is not authorized to perform: {service}:{operation}{suffix}");
            let err = classify_code("iam:Fallback", Some("AccessDenied"), Some(&message), Some(403));
            let expected = format!("{service}:{operation}");
            proptest::prop_assert_eq!(err.action(), Some(expected.as_str()));
        }
    }
}
