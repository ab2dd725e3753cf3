
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'kubectl-karpenter' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'kubectl-karpenter'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'kubectl-karpenter' {
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (default: the current context)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace for namespaced objects (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace for namespaced objects (default: the context''s namespace)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--region', '--region', [CompletionResultType]::ParameterName, 'AWS region (default: AWS_REGION, then the profile''s region)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'AWS shared-config profile (default: AWS_PROFILE, then "default")')
            [CompletionResult]::new('--cluster-name', '--cluster-name', [CompletionResultType]::ParameterName, 'EKS cluster name')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not prompt: answer yes to every confirmation')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not prompt: answer yes to every confirmation')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('setup', 'setup', [CompletionResultType]::ParameterValue, 'Create Karpenter''s IAM roles and policies, interruption queue and EventBridge rules')
            [CompletionResult]::new('convert', 'convert', [CompletionResultType]::ParameterValue, 'Convert v1alpha5/v1alpha1/v1beta1 Karpenter objects to NodePools and EC2NodeClasses')
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Run Karpenter''s controllers in the foreground (or in the cluster: --print-manifests)')
            [CompletionResult]::new('scale-to-zero', 'scale-to-zero', [CompletionResultType]::ParameterValue, 'Take NodePools to zero capacity, and restore them later')
            [CompletionResult]::new('scale-up', 'scale-up', [CompletionResultType]::ParameterValue, 'Restore pools taken to zero by scale-to-zero (same as `scale-to-zero --restore`)')
            [CompletionResult]::new('simulate', 'simulate', [CompletionResultType]::ParameterValue, 'Simulate Karpenter''s provisioning (manifests or cluster): NodeClaims, price, pending pods')
            [CompletionResult]::new('instance-types', 'instance-types', [CompletionResultType]::ParameterValue, 'List the instance types Karpenter would consider, cheapest first')
            [CompletionResult]::new('completion', 'completion', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('version', 'version', [CompletionResultType]::ParameterValue, 'Print the version')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'kubectl-karpenter;setup' {
            [CompletionResult]::new('--identity', '--identity', [CompletionResultType]::ParameterName, 'Controller role `<cluster>-karpenter` and its binding [default: pod-identity if the eks-pod-identity-agent add-on is installed, else irsa if the cluster has an OIDC issuer, else none]')
            [CompletionResult]::new('--node-access', '--node-access', [CompletionResultType]::ParameterName, 'Node join authorization for KarpenterNodeRole-<cluster> [default: access-entry when the cluster''s authentication mode allows it, else aws-auth (needs the cluster''s kubeconfig)]')
            [CompletionResult]::new('--tag-discovery', '--tag-discovery', [CompletionResultType]::ParameterName, 'Tag the cluster''s subnets and security groups karpenter.sh/discovery=<cluster>')
            [CompletionResult]::new('--spot-service-linked-role', '--spot-service-linked-role', [CompletionResultType]::ParameterName, 'Create the EC2 spot service-linked role (AWSServiceRoleForEC2Spot) if it is missing')
            [CompletionResult]::new('--service-account', '--service-account', [CompletionResultType]::ParameterName, 'Karpenter''s service account name (its namespace is -n, default kube-system)')
            [CompletionResult]::new('--from-cloudformation', '--from-cloudformation', [CompletionResultType]::ParameterName, 'Adopt the resources of an existing getting-started CloudFormation stack (default Karpenter-<cluster>): show what it owns, take them over, delete the stack retaining them. Not with --delete: adopt first, then delete')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (default: the current context)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace for namespaced objects (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace for namespaced objects (default: the context''s namespace)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--region', '--region', [CompletionResultType]::ParameterName, 'AWS region (default: AWS_REGION, then the profile''s region)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'AWS shared-config profile (default: AWS_PROFILE, then "default")')
            [CompletionResult]::new('--cluster-name', '--cluster-name', [CompletionResultType]::ParameterName, 'EKS cluster name')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show the plan and stop without changing anything')
            [CompletionResult]::new('--delete', '--delete', [CompletionResultType]::ParameterName, 'Remove everything setup creates for the cluster, plus the launch templates and instance profiles Karpenter created at runtime (found by tags and path)')
            [CompletionResult]::new('--export-cloudformation', '--export-cloudformation', [CompletionResultType]::ParameterName, 'Print the equivalent CloudFormation template (YAML, or JSON with -o json) instead of calling AWS')
            [CompletionResult]::new('--adopt', '--adopt', [CompletionResultType]::ParameterName, 'Take over resources that exist under setup''s names without its ownership tag (kubectl-karpenter.io/managed-by=<cluster>): tag them and converge them; with --delete, delete them too. Without it they are shown as "not managed" and left untouched')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not prompt: answer yes to every confirmation')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not prompt: answer yes to every confirmation')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-karpenter;convert' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'File or directory to convert, `-` for stdin (repeatable)')
            [CompletionResult]::new('--filename', '--filename', [CompletionResultType]::ParameterName, 'File or directory to convert, `-` for stdin (repeatable)')
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'API version to produce')
            [CompletionResult]::new('--node-role', '--node-role', [CompletionResultType]::ParameterName, 'IAM role for the EC2NodeClasses (replaces an instanceProfile and the $KARPENTER_NODE_ROLE placeholder)')
            [CompletionResult]::new('--output-dir', '--output-dir', [CompletionResultType]::ParameterName, 'Write one file per object into DIR instead of printing')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (default: the current context)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace for namespaced objects (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace for namespaced objects (default: the context''s namespace)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--region', '--region', [CompletionResultType]::ParameterName, 'AWS region (default: AWS_REGION, then the profile''s region)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'AWS shared-config profile (default: AWS_PROFILE, then "default")')
            [CompletionResult]::new('--cluster-name', '--cluster-name', [CompletionResultType]::ParameterName, 'EKS cluster name')
            [CompletionResult]::new('-R', '-R ', [CompletionResultType]::ParameterName, 'Also read subdirectories of the directories given with -f')
            [CompletionResult]::new('--recursive', '--recursive', [CompletionResultType]::ParameterName, 'Also read subdirectories of the directories given with -f')
            [CompletionResult]::new('--ignore-defaults', '--ignore-defaults', [CompletionResultType]::ParameterName, 'Do not add the v1alpha5 default requirements (os, arch, capacity-type, instance category/generation)')
            [CompletionResult]::new('--only-karpenter', '--only-karpenter', [CompletionResultType]::ParameterName, 'Drop objects that are not Karpenter objects instead of passing them through')
            [CompletionResult]::new('--strict', '--strict', [CompletionResultType]::ParameterName, 'Fail (exit 1, print nothing) if there is any warning')
            [CompletionResult]::new('--from-cluster', '--from-cluster', [CompletionResultType]::ParameterName, 'Read the live Provisioners, AWSNodeTemplates and v1beta1 objects from the cluster')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not prompt: answer yes to every confirmation')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not prompt: answer yes to every confirmation')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-karpenter;run' {
            [CompletionResult]::new('--cluster-endpoint', '--cluster-endpoint', [CompletionResultType]::ParameterName, 'The API server endpoint nodes join [default: from eks:DescribeCluster]')
            [CompletionResult]::new('--cluster-ca-bundle', '--cluster-ca-bundle', [CompletionResultType]::ParameterName, 'The cluster CA bundle (base64) written into node user data [default: from eks:DescribeCluster]')
            [CompletionResult]::new('--interruption-queue', '--interruption-queue', [CompletionResultType]::ParameterName, 'The SQS interruption queue''s name [default: the cluster name, the queue `setup` creates; interruption handling is off when it does not exist]')
            [CompletionResult]::new('--batch-idle-duration', '--batch-idle-duration', [CompletionResultType]::ParameterName, 'A provisioning batch closes after this long without a new pending pod')
            [CompletionResult]::new('--batch-max-duration', '--batch-max-duration', [CompletionResultType]::ParameterName, 'A provisioning batch closes after this long in all')
            [CompletionResult]::new('--feature-gates', '--feature-gates', [CompletionResultType]::ParameterName, 'Optional features, as upstream: NodeRepair, ReservedCapacity, SpotToSpotConsolidation, NodeOverlay, StaticCapacity')
            [CompletionResult]::new('--metrics-port', '--metrics-port', [CompletionResultType]::ParameterName, 'Port of the Prometheus /metrics endpoint (0: any free port)')
            [CompletionResult]::new('--health-probe-port', '--health-probe-port', [CompletionResultType]::ParameterName, 'Port of the /healthz and /readyz probes (0: any free port)')
            [CompletionResult]::new('--log-level', '--log-level', [CompletionResultType]::ParameterName, 'Log level: debug, info, warn or error (RUST_LOG overrides; -v adds dependencies'' logs)')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log format')
            [CompletionResult]::new('--leader-election-name', '--leader-election-name', [CompletionResultType]::ParameterName, 'The leader-election Lease''s name (upstream''s; an in-cluster Karpenter uses the same)')
            [CompletionResult]::new('--leader-election-namespace', '--leader-election-namespace', [CompletionResultType]::ParameterName, 'The Lease''s namespace: the one Karpenter is installed in [default: -n, else kube-system]')
            [CompletionResult]::new('--shutdown-grace-period', '--shutdown-grace-period', [CompletionResultType]::ParameterName, 'How long shutdown waits for in-flight work before it gives up on it')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Manifests for --simulate: NodePools, EC2NodeClasses, Deployments, StatefulSets, Jobs, Pods, existing Nodes (those labelled karpenter.sh/nodepool are adopted with a NodeClaim each)')
            [CompletionResult]::new('--filename', '--filename', [CompletionResultType]::ParameterName, 'Manifests for --simulate: NodePools, EC2NodeClasses, Deployments, StatefulSets, Jobs, Pods, existing Nodes (those labelled karpenter.sh/nodepool are adopted with a NodeClaim each)')
            [CompletionResult]::new('--scenario', '--scenario', [CompletionResultType]::ParameterName, 'Timed steps for --simulate (scale, deletePods, patchNodePool, interrupt; see the README)')
            [CompletionResult]::new('--duration', '--duration', [CompletionResultType]::ParameterName, 'Stop after this much simulated time (e.g. 30m, 2h)')
            [CompletionResult]::new('--settle-after', '--settle-after', [CompletionResultType]::ParameterName, 'Settled also needs this long without a NodeClaim or pod change')
            [CompletionResult]::new('--catalog', '--catalog', [CompletionResultType]::ParameterName, 'Instance types to launch from: aws (the embedded EC2 catalog of the region) or kwok (upstream''s KWOK provider''s 144 generated types, which its performance suite uses)')
            [CompletionResult]::new('--start', '--start', [CompletionResultType]::ParameterName, 'Simulated time at the start (RFC 3339)')
            [CompletionResult]::new('--launch-delay', '--launch-delay', [CompletionResultType]::ParameterName, 'How long an instance launch takes')
            [CompletionResult]::new('--boot-delay', '--boot-delay', [CompletionResultType]::ParameterName, 'How long a registered Node takes to become Ready')
            [CompletionResult]::new('--seed', '--seed', [CompletionResultType]::ParameterName, 'Seed for NodeClaim names (same seed, same input: same output)')
            [CompletionResult]::new('--image', '--image', [CompletionResultType]::ParameterName, 'The container image (--print-manifests)')
            [CompletionResult]::new('--service-account', '--service-account', [CompletionResultType]::ParameterName, 'The ServiceAccount (--print-manifests); `karpenter` gets the Pod Identity association `setup` creates')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (default: the current context)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace for namespaced objects (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace for namespaced objects (default: the context''s namespace)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--region', '--region', [CompletionResultType]::ParameterName, 'AWS region (default: AWS_REGION, then the profile''s region)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'AWS shared-config profile (default: AWS_PROFILE, then "default")')
            [CompletionResult]::new('--cluster-name', '--cluster-name', [CompletionResultType]::ParameterName, 'EKS cluster name')
            [CompletionResult]::new('--disable-leader-election', '--disable-leader-election', [CompletionResultType]::ParameterName, 'Act without holding the Lease (only when nothing else can act on this cluster)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Watch and decide, log every launch it would make, write nothing to the cluster or AWS (takes no Lease)')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Start even though an in-cluster Karpenter controller is running')
            [CompletionResult]::new('--print-manifests', '--print-manifests', [CompletionResultType]::ParameterName, 'Print the Deployment, ServiceAccount and RBAC that run this command in the cluster, and exit')
            [CompletionResult]::new('--simulate', '--simulate', [CompletionResultType]::ParameterName, 'Run the controllers on a simulated cluster (no AWS, no cluster) on a virtual clock')
            [CompletionResult]::new('--until-settled', '--until-settled', [CompletionResultType]::ParameterName, 'Stop once settled: nothing pending, every NodeClaim up, and a disruption pass since the last change found nothing to do and nothing waiting on time (the default when --duration is not given)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not prompt: answer yes to every confirmation')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not prompt: answer yes to every confirmation')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-karpenter;scale-to-zero' {
            [CompletionResult]::new('-l', '-l', [CompletionResultType]::ParameterName, 'Pools whose labels match this selector (kubectl syntax: `env=dev,team in (a,b)`)')
            [CompletionResult]::new('--selector', '--selector', [CompletionResultType]::ParameterName, 'Pools whose labels match this selector (kubectl syntax: `env=dev,team in (a,b)`)')
            [CompletionResult]::new('--exclude', '--exclude', [CompletionResultType]::ParameterName, 'Leave these pools out (repeatable or comma-separated)')
            [CompletionResult]::new('--kind', '--kind', [CompletionResultType]::ParameterName, 'Only NodePools (karpenter.sh v1/v1beta1) or only Provisioners (v1alpha5)')
            [CompletionResult]::new('--limits', '--limits', [CompletionResultType]::ParameterName, 'With --restore: the limits for pools without a usable record (none, unreadable, or holding zero), e.g. `cpu=1000,memory=1000Gi`; pools with a record get the recorded ones')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (default: the current context)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace for namespaced objects (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace for namespaced objects (default: the context''s namespace)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--region', '--region', [CompletionResultType]::ParameterName, 'AWS region (default: AWS_REGION, then the profile''s region)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'AWS shared-config profile (default: AWS_PROFILE, then "default")')
            [CompletionResult]::new('--cluster-name', '--cluster-name', [CompletionResultType]::ParameterName, 'EKS cluster name')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Every pool in the cluster')
            [CompletionResult]::new('--restore', '--restore', [CompletionResultType]::ParameterName, 'Put back the recorded limits and remove the record (same as `kubectl karpenter scale-up`)')
            [CompletionResult]::new('--keep-nodes', '--keep-nodes', [CompletionResultType]::ParameterName, 'Only block new capacity; keep the existing nodes')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Also remove nodes with do-not-disrupt pods or blocked by a PodDisruptionBudget, and record a pool whose limits are already zero (its restore then puts back zero)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the plan and change nothing')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not prompt: answer yes to every confirmation')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not prompt: answer yes to every confirmation')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('schedule', 'schedule', [CompletionResultType]::ParameterValue, 'Print a ServiceAccount, ClusterRole/Binding and two CronJobs that scale down and up on a schedule')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'kubectl-karpenter;scale-to-zero;schedule' {
            [CompletionResult]::new('--down', '--down', [CompletionResultType]::ParameterName, 'When to scale down (cron, 5 fields)')
            [CompletionResult]::new('--up', '--up', [CompletionResultType]::ParameterName, 'When to restore (cron, 5 fields)')
            [CompletionResult]::new('--time-zone', '--time-zone', [CompletionResultType]::ParameterName, 'IANA time zone of both schedules')
            [CompletionResult]::new('--image', '--image', [CompletionResultType]::ParameterName, 'Image that runs kubectl-karpenter (default: ghcr.io/kubectl-karpenter/kubectl-karpenter:v<version>)')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Name of the ServiceAccount, ClusterRole(Binding) and prefix of the CronJobs')
            [CompletionResult]::new('-l', '-l', [CompletionResultType]::ParameterName, 'Pools whose labels match this selector (kubectl syntax: `env=dev,team in (a,b)`)')
            [CompletionResult]::new('--selector', '--selector', [CompletionResultType]::ParameterName, 'Pools whose labels match this selector (kubectl syntax: `env=dev,team in (a,b)`)')
            [CompletionResult]::new('--exclude', '--exclude', [CompletionResultType]::ParameterName, 'Leave these pools out (repeatable or comma-separated)')
            [CompletionResult]::new('--kind', '--kind', [CompletionResultType]::ParameterName, 'Only NodePools (karpenter.sh v1/v1beta1) or only Provisioners (v1alpha5)')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (default: the current context)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace for namespaced objects (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace for namespaced objects (default: the context''s namespace)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--region', '--region', [CompletionResultType]::ParameterName, 'AWS region (default: AWS_REGION, then the profile''s region)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'AWS shared-config profile (default: AWS_PROFILE, then "default")')
            [CompletionResult]::new('--cluster-name', '--cluster-name', [CompletionResultType]::ParameterName, 'EKS cluster name')
            [CompletionResult]::new('--keep-nodes', '--keep-nodes', [CompletionResultType]::ParameterName, 'The down job only blocks new capacity')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'The down job also removes nodes blocked by do-not-disrupt pods or PDBs')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Every pool in the cluster')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not prompt: answer yes to every confirmation')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not prompt: answer yes to every confirmation')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-karpenter;scale-to-zero;help' {
            [CompletionResult]::new('schedule', 'schedule', [CompletionResultType]::ParameterValue, 'Print a ServiceAccount, ClusterRole/Binding and two CronJobs that scale down and up on a schedule')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'kubectl-karpenter;scale-to-zero;help;schedule' {
            break
        }
        'kubectl-karpenter;scale-to-zero;help;help' {
            break
        }
        'kubectl-karpenter;scale-up' {
            [CompletionResult]::new('-l', '-l', [CompletionResultType]::ParameterName, 'Pools whose labels match this selector (kubectl syntax: `env=dev,team in (a,b)`)')
            [CompletionResult]::new('--selector', '--selector', [CompletionResultType]::ParameterName, 'Pools whose labels match this selector (kubectl syntax: `env=dev,team in (a,b)`)')
            [CompletionResult]::new('--exclude', '--exclude', [CompletionResultType]::ParameterName, 'Leave these pools out (repeatable or comma-separated)')
            [CompletionResult]::new('--kind', '--kind', [CompletionResultType]::ParameterName, 'Only NodePools (karpenter.sh v1/v1beta1) or only Provisioners (v1alpha5)')
            [CompletionResult]::new('--limits', '--limits', [CompletionResultType]::ParameterName, 'The limits for pools without a usable record, e.g. `cpu=1000,memory=1000Gi`')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (default: the current context)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace for namespaced objects (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace for namespaced objects (default: the context''s namespace)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--region', '--region', [CompletionResultType]::ParameterName, 'AWS region (default: AWS_REGION, then the profile''s region)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'AWS shared-config profile (default: AWS_PROFILE, then "default")')
            [CompletionResult]::new('--cluster-name', '--cluster-name', [CompletionResultType]::ParameterName, 'EKS cluster name')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Every pool in the cluster')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the plan and change nothing')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not prompt: answer yes to every confirmation')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not prompt: answer yes to every confirmation')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-karpenter;simulate' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Manifest files or directories (multi-document YAML or JSON); repeat or list several')
            [CompletionResult]::new('--filename', '--filename', [CompletionResultType]::ParameterName, 'Manifest files or directories (multi-document YAML or JSON); repeat or list several')
            [CompletionResult]::new('--catalog', '--catalog', [CompletionResultType]::ParameterName, 'Instance-type catalog in the embedded catalog''s JSON format (needed outside us-east-1)')
            [CompletionResult]::new('--strategy', '--strategy', [CompletionResultType]::ParameterName, 'Packing strategy')
            [CompletionResult]::new('--now', '--now', [CompletionResultType]::ParameterName, 'The time disruption is evaluated at (RFC 3339, e.g. 2026-03-02T12:00:00Z; default now)')
            [CompletionResult]::new('--feature-gates', '--feature-gates', [CompletionResultType]::ParameterName, 'Feature gates as upstream names them, e.g. SpotToSpotConsolidation=true (read with --disrupt)')
            [CompletionResult]::new('--min-savings', '--min-savings', [CompletionResultType]::ParameterName, 'A consolidation must save at least this many $/hour (against churn; default 0)')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (default: the current context)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace for namespaced objects (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace for namespaced objects (default: the context''s namespace)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--region', '--region', [CompletionResultType]::ParameterName, 'AWS region (default: AWS_REGION, then the profile''s region)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'AWS shared-config profile (default: AWS_PROFILE, then "default")')
            [CompletionResult]::new('--cluster-name', '--cluster-name', [CompletionResultType]::ParameterName, 'EKS cluster name')
            [CompletionResult]::new('--from-cluster', '--from-cluster', [CompletionResultType]::ParameterName, 'Read pending pods, nodes, NodePools and volumes from the cluster (read-only) instead of files')
            [CompletionResult]::new('--disrupt', '--disrupt', [CompletionResultType]::ParameterName, 'Also show what disruption would do now: emptiness, drift, expiration, consolidation')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not prompt: answer yes to every confirmation')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not prompt: answer yes to every confirmation')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-karpenter;instance-types' {
            [CompletionResult]::new('--nodeclass', '--nodeclass', [CompletionResultType]::ParameterName, 'Use this EC2NodeClass''s resolved zones and AMIs, AMI family and kubelet settings (reads the cluster; default: the --nodepool''s nodeClassRef)')
            [CompletionResult]::new('--nodepool', '--nodepool', [CompletionResultType]::ParameterName, 'Apply this NodePool''s requirements (reads the cluster)')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Apply the requirements of the NodePool in this YAML file')
            [CompletionResult]::new('--filename', '--filename', [CompletionResultType]::ParameterName, 'Apply the requirements of the NodePool in this YAML file')
            [CompletionResult]::new('--vcpus', '--vcpus', [CompletionResultType]::ParameterName, 'Only types with exactly this many vCPUs')
            [CompletionResult]::new('--memory', '--memory', [CompletionResultType]::ParameterName, 'Only types with exactly this much memory, in GiB (e.g. 8, 0.5)')
            [CompletionResult]::new('--arch', '--arch', [CompletionResultType]::ParameterName, 'Only this architecture')
            [CompletionResult]::new('--capacity-type', '--capacity-type', [CompletionResultType]::ParameterName, 'Only offerings of this capacity type')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (default: the current context)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace for namespaced objects (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace for namespaced objects (default: the context''s namespace)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--region', '--region', [CompletionResultType]::ParameterName, 'AWS region (default: AWS_REGION, then the profile''s region)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'AWS shared-config profile (default: AWS_PROFILE, then "default")')
            [CompletionResult]::new('--cluster-name', '--cluster-name', [CompletionResultType]::ParameterName, 'EKS cluster name')
            [CompletionResult]::new('--offline', '--offline', [CompletionResultType]::ParameterName, 'Use the embedded catalog instead of the AWS APIs (no credentials needed)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not prompt: answer yes to every confirmation')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not prompt: answer yes to every confirmation')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-karpenter;completion' {
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (default: the current context)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace for namespaced objects (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace for namespaced objects (default: the context''s namespace)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--region', '--region', [CompletionResultType]::ParameterName, 'AWS region (default: AWS_REGION, then the profile''s region)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'AWS shared-config profile (default: AWS_PROFILE, then "default")')
            [CompletionResult]::new('--cluster-name', '--cluster-name', [CompletionResultType]::ParameterName, 'EKS cluster name')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not prompt: answer yes to every confirmation')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not prompt: answer yes to every confirmation')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-karpenter;version' {
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (default: the current context)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace for namespaced objects (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace for namespaced objects (default: the context''s namespace)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--region', '--region', [CompletionResultType]::ParameterName, 'AWS region (default: AWS_REGION, then the profile''s region)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'AWS shared-config profile (default: AWS_PROFILE, then "default")')
            [CompletionResult]::new('--cluster-name', '--cluster-name', [CompletionResultType]::ParameterName, 'EKS cluster name')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not prompt: answer yes to every confirmation')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not prompt: answer yes to every confirmation')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-karpenter;help' {
            [CompletionResult]::new('setup', 'setup', [CompletionResultType]::ParameterValue, 'Create Karpenter''s IAM roles and policies, interruption queue and EventBridge rules')
            [CompletionResult]::new('convert', 'convert', [CompletionResultType]::ParameterValue, 'Convert v1alpha5/v1alpha1/v1beta1 Karpenter objects to NodePools and EC2NodeClasses')
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Run Karpenter''s controllers in the foreground (or in the cluster: --print-manifests)')
            [CompletionResult]::new('scale-to-zero', 'scale-to-zero', [CompletionResultType]::ParameterValue, 'Take NodePools to zero capacity, and restore them later')
            [CompletionResult]::new('scale-up', 'scale-up', [CompletionResultType]::ParameterValue, 'Restore pools taken to zero by scale-to-zero (same as `scale-to-zero --restore`)')
            [CompletionResult]::new('simulate', 'simulate', [CompletionResultType]::ParameterValue, 'Simulate Karpenter''s provisioning (manifests or cluster): NodeClaims, price, pending pods')
            [CompletionResult]::new('instance-types', 'instance-types', [CompletionResultType]::ParameterValue, 'List the instance types Karpenter would consider, cheapest first')
            [CompletionResult]::new('completion', 'completion', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('version', 'version', [CompletionResultType]::ParameterValue, 'Print the version')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'kubectl-karpenter;help;setup' {
            break
        }
        'kubectl-karpenter;help;convert' {
            break
        }
        'kubectl-karpenter;help;run' {
            break
        }
        'kubectl-karpenter;help;scale-to-zero' {
            [CompletionResult]::new('schedule', 'schedule', [CompletionResultType]::ParameterValue, 'Print a ServiceAccount, ClusterRole/Binding and two CronJobs that scale down and up on a schedule')
            break
        }
        'kubectl-karpenter;help;scale-to-zero;schedule' {
            break
        }
        'kubectl-karpenter;help;scale-up' {
            break
        }
        'kubectl-karpenter;help;simulate' {
            break
        }
        'kubectl-karpenter;help;instance-types' {
            break
        }
        'kubectl-karpenter;help;completion' {
            break
        }
        'kubectl-karpenter;help;version' {
            break
        }
        'kubectl-karpenter;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
