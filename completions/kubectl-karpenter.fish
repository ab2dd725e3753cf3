# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_kubectl_karpenter_global_optspecs
    string join \n kubeconfig= context= n/namespace= o/output= v/verbose y/yes region= profile= cluster-name= h/help V/version
end

function __fish_kubectl_karpenter_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_kubectl_karpenter_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_kubectl_karpenter_using_subcommand
    set -l cmd (__fish_kubectl_karpenter_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_needs_command" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)' -r -F
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_needs_command" -l context -d 'The kubeconfig context to use (default: the current context)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_needs_command" -s n -l namespace -d 'Namespace for namespaced objects (default: the context\'s namespace)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_needs_command" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
yaml\t'YAML (deterministic key order)'
json\t'JSON (deterministic key order, pretty-printed)'"
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_needs_command" -l region -d 'AWS region (default: AWS_REGION, then the profile\'s region)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_needs_command" -l profile -d 'AWS shared-config profile (default: AWS_PROFILE, then "default")' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_needs_command" -l cluster-name -d 'EKS cluster name' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_needs_command" -s v -l verbose -d 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_needs_command" -s y -l yes -d 'Do not prompt: answer yes to every confirmation'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_needs_command" -s V -l version -d 'Print version'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_needs_command" -f -a "setup" -d 'Create Karpenter\'s IAM roles and policies, interruption queue and EventBridge rules'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_needs_command" -f -a "convert" -d 'Convert v1alpha5/v1alpha1/v1beta1 Karpenter objects to NodePools and EC2NodeClasses'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_needs_command" -f -a "run" -d 'Run Karpenter\'s controllers in the foreground (or in the cluster: --print-manifests)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_needs_command" -f -a "scale-to-zero" -d 'Take NodePools to zero capacity, and restore them later'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_needs_command" -f -a "scale-up" -d 'Restore pools taken to zero by scale-to-zero (same as `scale-to-zero --restore`)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_needs_command" -f -a "simulate" -d 'Simulate Karpenter\'s provisioning (manifests or cluster): NodeClaims, price, pending pods'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_needs_command" -f -a "instance-types" -d 'List the instance types Karpenter would consider, cheapest first'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_needs_command" -f -a "completion" -d 'Print a shell completion script'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_needs_command" -f -a "version" -d 'Print the version'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand setup" -l identity -d 'Controller role `<cluster>-karpenter` and its binding [default: pod-identity if the eks-pod-identity-agent add-on is installed, else irsa if the cluster has an OIDC issuer, else none]' -r -f -a "pod-identity\t'An IAM role bound to the `karpenter` service account by an EKS Pod Identity association'
irsa\t'An IAM role trusted by the cluster\'s OIDC provider (IRSA)'
none\t'No controller role: attach the six controller policies to a role yourself'"
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand setup" -l node-access -d 'Node join authorization for KarpenterNodeRole-<cluster> [default: access-entry when the cluster\'s authentication mode allows it, else aws-auth (needs the cluster\'s kubeconfig)]' -r -f -a "access-entry\t'An EKS access entry of type EC2_LINUX for the node role'
aws-auth\t'A mapRoles entry in the kube-system/aws-auth ConfigMap'
none\t'Leave node authorization to you'"
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand setup" -l tag-discovery -d 'Tag the cluster\'s subnets and security groups karpenter.sh/discovery=<cluster>' -r -f -a "true\t''
false\t''"
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand setup" -l spot-service-linked-role -d 'Create the EC2 spot service-linked role (AWSServiceRoleForEC2Spot) if it is missing' -r -f -a "true\t''
false\t''"
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand setup" -l service-account -d 'Karpenter\'s service account name (its namespace is -n, default kube-system)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand setup" -l from-cloudformation -d 'Adopt the resources of an existing getting-started CloudFormation stack (default Karpenter-<cluster>): show what it owns, take them over, delete the stack retaining them. Not with --delete: adopt first, then delete' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand setup" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)' -r -F
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand setup" -l context -d 'The kubeconfig context to use (default: the current context)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand setup" -s n -l namespace -d 'Namespace for namespaced objects (default: the context\'s namespace)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand setup" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
yaml\t'YAML (deterministic key order)'
json\t'JSON (deterministic key order, pretty-printed)'"
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand setup" -l region -d 'AWS region (default: AWS_REGION, then the profile\'s region)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand setup" -l profile -d 'AWS shared-config profile (default: AWS_PROFILE, then "default")' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand setup" -l cluster-name -d 'EKS cluster name' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand setup" -l dry-run -d 'Show the plan and stop without changing anything'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand setup" -l delete -d 'Remove everything setup creates for the cluster, plus the launch templates and instance profiles Karpenter created at runtime (found by tags and path)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand setup" -l export-cloudformation -d 'Print the equivalent CloudFormation template (YAML, or JSON with -o json) instead of calling AWS'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand setup" -l adopt -d 'Take over resources that exist under setup\'s names without its ownership tag (kubectl-karpenter.io/managed-by=<cluster>): tag them and converge them; with --delete, delete them too. Without it they are shown as "not managed" and left untouched'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand setup" -s v -l verbose -d 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand setup" -s y -l yes -d 'Do not prompt: answer yes to every confirmation'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand setup" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand setup" -s V -l version -d 'Print version'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand convert" -s f -l filename -d 'File or directory to convert, `-` for stdin (repeatable)' -r -F
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand convert" -l to -d 'API version to produce' -r -f -a "v1\t'karpenter.sh/v1 + karpenter.k8s.aws/v1 (Karpenter v1.0 and later)'
v1beta1\t'karpenter.sh/v1beta1 + karpenter.k8s.aws/v1beta1 (what karpenter-convert produced)'"
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand convert" -l node-role -d 'IAM role for the EC2NodeClasses (replaces an instanceProfile and the $KARPENTER_NODE_ROLE placeholder)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand convert" -l output-dir -d 'Write one file per object into DIR instead of printing' -r -F
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand convert" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)' -r -F
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand convert" -l context -d 'The kubeconfig context to use (default: the current context)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand convert" -s n -l namespace -d 'Namespace for namespaced objects (default: the context\'s namespace)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand convert" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
yaml\t'YAML (deterministic key order)'
json\t'JSON (deterministic key order, pretty-printed)'"
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand convert" -l region -d 'AWS region (default: AWS_REGION, then the profile\'s region)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand convert" -l profile -d 'AWS shared-config profile (default: AWS_PROFILE, then "default")' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand convert" -l cluster-name -d 'EKS cluster name' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand convert" -s R -l recursive -d 'Also read subdirectories of the directories given with -f'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand convert" -l ignore-defaults -d 'Do not add the v1alpha5 default requirements (os, arch, capacity-type, instance category/generation)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand convert" -l only-karpenter -d 'Drop objects that are not Karpenter objects instead of passing them through'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand convert" -l strict -d 'Fail (exit 1, print nothing) if there is any warning'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand convert" -l from-cluster -d 'Read the live Provisioners, AWSNodeTemplates and v1beta1 objects from the cluster'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand convert" -s v -l verbose -d 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand convert" -s y -l yes -d 'Do not prompt: answer yes to every confirmation'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand convert" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand convert" -s V -l version -d 'Print version'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l cluster-endpoint -d 'The API server endpoint nodes join [default: from eks:DescribeCluster]' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l cluster-ca-bundle -d 'The cluster CA bundle (base64) written into node user data [default: from eks:DescribeCluster]' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l interruption-queue -d 'The SQS interruption queue\'s name [default: the cluster name, the queue `setup` creates; interruption handling is off when it does not exist]' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l batch-idle-duration -d 'A provisioning batch closes after this long without a new pending pod' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l batch-max-duration -d 'A provisioning batch closes after this long in all' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l feature-gates -d 'Optional features, as upstream: NodeRepair, ReservedCapacity, SpotToSpotConsolidation, NodeOverlay, StaticCapacity' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l metrics-port -d 'Port of the Prometheus /metrics endpoint (0: any free port)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l health-probe-port -d 'Port of the /healthz and /readyz probes (0: any free port)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l log-level -d 'Log level: debug, info, warn or error (RUST_LOG overrides; -v adds dependencies\' logs)' -r -f -a "debug\t''
info\t''
warn\t''
error\t''"
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l log-format -d 'Log format' -r -f -a "auto\t'Human-readable on a terminal, JSON otherwise'
human\t'Human-readable lines'
json\t'One JSON object per line (as upstream\'s zap logger)'"
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l leader-election-name -d 'The leader-election Lease\'s name (upstream\'s; an in-cluster Karpenter uses the same)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l leader-election-namespace -d 'The Lease\'s namespace: the one Karpenter is installed in [default: -n, else kube-system]' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l shutdown-grace-period -d 'How long shutdown waits for in-flight work before it gives up on it' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -s f -l filename -d 'Manifests for --simulate: NodePools, EC2NodeClasses, Deployments, StatefulSets, Jobs, Pods, existing Nodes (those labelled karpenter.sh/nodepool are adopted with a NodeClaim each)' -r -F
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l scenario -d 'Timed steps for --simulate (scale, deletePods, patchNodePool, interrupt; see the README)' -r -F
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l duration -d 'Stop after this much simulated time (e.g. 30m, 2h)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l settle-after -d 'Settled also needs this long without a NodeClaim or pod change' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l catalog -d 'Instance types to launch from: aws (the embedded EC2 catalog of the region) or kwok (upstream\'s KWOK provider\'s 144 generated types, which its performance suite uses)' -r -f -a "aws\t''
kwok\t''"
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l start -d 'Simulated time at the start (RFC 3339)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l launch-delay -d 'How long an instance launch takes' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l boot-delay -d 'How long a registered Node takes to become Ready' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l seed -d 'Seed for NodeClaim names (same seed, same input: same output)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l image -d 'The container image (--print-manifests)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l service-account -d 'The ServiceAccount (--print-manifests); `karpenter` gets the Pod Identity association `setup` creates' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)' -r -F
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l context -d 'The kubeconfig context to use (default: the current context)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -s n -l namespace -d 'Namespace for namespaced objects (default: the context\'s namespace)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
yaml\t'YAML (deterministic key order)'
json\t'JSON (deterministic key order, pretty-printed)'"
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l region -d 'AWS region (default: AWS_REGION, then the profile\'s region)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l profile -d 'AWS shared-config profile (default: AWS_PROFILE, then "default")' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l cluster-name -d 'EKS cluster name' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l disable-leader-election -d 'Act without holding the Lease (only when nothing else can act on this cluster)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l dry-run -d 'Watch and decide, log every launch it would make, write nothing to the cluster or AWS (takes no Lease)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l force -d 'Start even though an in-cluster Karpenter controller is running'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l print-manifests -d 'Print the Deployment, ServiceAccount and RBAC that run this command in the cluster, and exit'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l simulate -d 'Run the controllers on a simulated cluster (no AWS, no cluster) on a virtual clock'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l until-settled -d 'Stop once settled: nothing pending, every NodeClaim up, and a disruption pass since the last change found nothing to do and nothing waiting on time (the default when --duration is not given)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -s v -l verbose -d 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -s y -l yes -d 'Do not prompt: answer yes to every confirmation'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -s V -l version -d 'Print version'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and not __fish_seen_subcommand_from schedule help" -s l -l selector -d 'Pools whose labels match this selector (kubectl syntax: `env=dev,team in (a,b)`)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and not __fish_seen_subcommand_from schedule help" -l exclude -d 'Leave these pools out (repeatable or comma-separated)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and not __fish_seen_subcommand_from schedule help" -l kind -d 'Only NodePools (karpenter.sh v1/v1beta1) or only Provisioners (v1alpha5)' -r -f -a "nodepool\t'`karpenter.sh` NodePools (v1 or v1beta1)'
provisioner\t'`karpenter.sh/v1alpha5` Provisioners'"
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and not __fish_seen_subcommand_from schedule help" -l limits -d 'With --restore: the limits for pools without a usable record (none, unreadable, or holding zero), e.g. `cpu=1000,memory=1000Gi`; pools with a record get the recorded ones' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and not __fish_seen_subcommand_from schedule help" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)' -r -F
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and not __fish_seen_subcommand_from schedule help" -l context -d 'The kubeconfig context to use (default: the current context)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and not __fish_seen_subcommand_from schedule help" -s n -l namespace -d 'Namespace for namespaced objects (default: the context\'s namespace)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and not __fish_seen_subcommand_from schedule help" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
yaml\t'YAML (deterministic key order)'
json\t'JSON (deterministic key order, pretty-printed)'"
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and not __fish_seen_subcommand_from schedule help" -l region -d 'AWS region (default: AWS_REGION, then the profile\'s region)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and not __fish_seen_subcommand_from schedule help" -l profile -d 'AWS shared-config profile (default: AWS_PROFILE, then "default")' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and not __fish_seen_subcommand_from schedule help" -l cluster-name -d 'EKS cluster name' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and not __fish_seen_subcommand_from schedule help" -l all -d 'Every pool in the cluster'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and not __fish_seen_subcommand_from schedule help" -l restore -d 'Put back the recorded limits and remove the record (same as `kubectl karpenter scale-up`)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and not __fish_seen_subcommand_from schedule help" -l keep-nodes -d 'Only block new capacity; keep the existing nodes'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and not __fish_seen_subcommand_from schedule help" -l force -d 'Also remove nodes with do-not-disrupt pods or blocked by a PodDisruptionBudget, and record a pool whose limits are already zero (its restore then puts back zero)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and not __fish_seen_subcommand_from schedule help" -l dry-run -d 'Print the plan and change nothing'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and not __fish_seen_subcommand_from schedule help" -s v -l verbose -d 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and not __fish_seen_subcommand_from schedule help" -s y -l yes -d 'Do not prompt: answer yes to every confirmation'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and not __fish_seen_subcommand_from schedule help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and not __fish_seen_subcommand_from schedule help" -s V -l version -d 'Print version'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and not __fish_seen_subcommand_from schedule help" -a "schedule" -d 'Print a ServiceAccount, ClusterRole/Binding and two CronJobs that scale down and up on a schedule'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and not __fish_seen_subcommand_from schedule help" -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and __fish_seen_subcommand_from schedule" -l down -d 'When to scale down (cron, 5 fields)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and __fish_seen_subcommand_from schedule" -l up -d 'When to restore (cron, 5 fields)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and __fish_seen_subcommand_from schedule" -l time-zone -d 'IANA time zone of both schedules' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and __fish_seen_subcommand_from schedule" -l image -d 'Image that runs kubectl-karpenter (default: ghcr.io/kubectl-karpenter/kubectl-karpenter:v<version>)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and __fish_seen_subcommand_from schedule" -l name -d 'Name of the ServiceAccount, ClusterRole(Binding) and prefix of the CronJobs' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and __fish_seen_subcommand_from schedule" -s l -l selector -d 'Pools whose labels match this selector (kubectl syntax: `env=dev,team in (a,b)`)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and __fish_seen_subcommand_from schedule" -l exclude -d 'Leave these pools out (repeatable or comma-separated)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and __fish_seen_subcommand_from schedule" -l kind -d 'Only NodePools (karpenter.sh v1/v1beta1) or only Provisioners (v1alpha5)' -r -f -a "nodepool\t'`karpenter.sh` NodePools (v1 or v1beta1)'
provisioner\t'`karpenter.sh/v1alpha5` Provisioners'"
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and __fish_seen_subcommand_from schedule" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)' -r -F
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and __fish_seen_subcommand_from schedule" -l context -d 'The kubeconfig context to use (default: the current context)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and __fish_seen_subcommand_from schedule" -s n -l namespace -d 'Namespace for namespaced objects (default: the context\'s namespace)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and __fish_seen_subcommand_from schedule" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
yaml\t'YAML (deterministic key order)'
json\t'JSON (deterministic key order, pretty-printed)'"
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and __fish_seen_subcommand_from schedule" -l region -d 'AWS region (default: AWS_REGION, then the profile\'s region)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and __fish_seen_subcommand_from schedule" -l profile -d 'AWS shared-config profile (default: AWS_PROFILE, then "default")' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and __fish_seen_subcommand_from schedule" -l cluster-name -d 'EKS cluster name' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and __fish_seen_subcommand_from schedule" -l keep-nodes -d 'The down job only blocks new capacity'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and __fish_seen_subcommand_from schedule" -l force -d 'The down job also removes nodes blocked by do-not-disrupt pods or PDBs'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and __fish_seen_subcommand_from schedule" -l all -d 'Every pool in the cluster'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and __fish_seen_subcommand_from schedule" -s v -l verbose -d 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and __fish_seen_subcommand_from schedule" -s y -l yes -d 'Do not prompt: answer yes to every confirmation'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and __fish_seen_subcommand_from schedule" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and __fish_seen_subcommand_from schedule" -s V -l version -d 'Print version'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and __fish_seen_subcommand_from help" -f -a "schedule" -d 'Print a ServiceAccount, ClusterRole/Binding and two CronJobs that scale down and up on a schedule'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-up" -s l -l selector -d 'Pools whose labels match this selector (kubectl syntax: `env=dev,team in (a,b)`)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-up" -l exclude -d 'Leave these pools out (repeatable or comma-separated)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-up" -l kind -d 'Only NodePools (karpenter.sh v1/v1beta1) or only Provisioners (v1alpha5)' -r -f -a "nodepool\t'`karpenter.sh` NodePools (v1 or v1beta1)'
provisioner\t'`karpenter.sh/v1alpha5` Provisioners'"
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-up" -l limits -d 'The limits for pools without a usable record, e.g. `cpu=1000,memory=1000Gi`' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-up" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)' -r -F
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-up" -l context -d 'The kubeconfig context to use (default: the current context)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-up" -s n -l namespace -d 'Namespace for namespaced objects (default: the context\'s namespace)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-up" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
yaml\t'YAML (deterministic key order)'
json\t'JSON (deterministic key order, pretty-printed)'"
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-up" -l region -d 'AWS region (default: AWS_REGION, then the profile\'s region)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-up" -l profile -d 'AWS shared-config profile (default: AWS_PROFILE, then "default")' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-up" -l cluster-name -d 'EKS cluster name' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-up" -l all -d 'Every pool in the cluster'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-up" -l dry-run -d 'Print the plan and change nothing'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-up" -s v -l verbose -d 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-up" -s y -l yes -d 'Do not prompt: answer yes to every confirmation'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-up" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-up" -s V -l version -d 'Print version'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand simulate" -s f -l filename -d 'Manifest files or directories (multi-document YAML or JSON); repeat or list several' -r -F
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand simulate" -l catalog -d 'Instance-type catalog in the embedded catalog\'s JSON format (needed outside us-east-1)' -r -F
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand simulate" -l strategy -d 'Packing strategy' -r -f -a "default\t'Best of several orderings, never worse than `karpenter` on pending pods or price'
karpenter\t'Upstream Karpenter\'s ordering and first-fit, for parity'"
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand simulate" -l now -d 'The time disruption is evaluated at (RFC 3339, e.g. 2026-03-02T12:00:00Z; default now)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand simulate" -l feature-gates -d 'Feature gates as upstream names them, e.g. SpotToSpotConsolidation=true (read with --disrupt)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand simulate" -l min-savings -d 'A consolidation must save at least this many $/hour (against churn; default 0)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand simulate" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)' -r -F
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand simulate" -l context -d 'The kubeconfig context to use (default: the current context)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand simulate" -s n -l namespace -d 'Namespace for namespaced objects (default: the context\'s namespace)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand simulate" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
yaml\t'YAML (deterministic key order)'
json\t'JSON (deterministic key order, pretty-printed)'"
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand simulate" -l region -d 'AWS region (default: AWS_REGION, then the profile\'s region)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand simulate" -l profile -d 'AWS shared-config profile (default: AWS_PROFILE, then "default")' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand simulate" -l cluster-name -d 'EKS cluster name' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand simulate" -l from-cluster -d 'Read pending pods, nodes, NodePools and volumes from the cluster (read-only) instead of files'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand simulate" -l disrupt -d 'Also show what disruption would do now: emptiness, drift, expiration, consolidation'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand simulate" -s v -l verbose -d 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand simulate" -s y -l yes -d 'Do not prompt: answer yes to every confirmation'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand simulate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand simulate" -s V -l version -d 'Print version'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand instance-types" -l nodeclass -d 'Use this EC2NodeClass\'s resolved zones and AMIs, AMI family and kubelet settings (reads the cluster; default: the --nodepool\'s nodeClassRef)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand instance-types" -l nodepool -d 'Apply this NodePool\'s requirements (reads the cluster)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand instance-types" -s f -l filename -d 'Apply the requirements of the NodePool in this YAML file' -r -F
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand instance-types" -l vcpus -d 'Only types with exactly this many vCPUs' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand instance-types" -l memory -d 'Only types with exactly this much memory, in GiB (e.g. 8, 0.5)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand instance-types" -l arch -d 'Only this architecture' -r -f -a "amd64\t'x86_64'
arm64\t'arm64 (Graviton)'"
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand instance-types" -l capacity-type -d 'Only offerings of this capacity type' -r -f -a "spot\t'Spot'
on-demand\t'On-demand'"
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand instance-types" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)' -r -F
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand instance-types" -l context -d 'The kubeconfig context to use (default: the current context)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand instance-types" -s n -l namespace -d 'Namespace for namespaced objects (default: the context\'s namespace)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand instance-types" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
yaml\t'YAML (deterministic key order)'
json\t'JSON (deterministic key order, pretty-printed)'"
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand instance-types" -l region -d 'AWS region (default: AWS_REGION, then the profile\'s region)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand instance-types" -l profile -d 'AWS shared-config profile (default: AWS_PROFILE, then "default")' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand instance-types" -l cluster-name -d 'EKS cluster name' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand instance-types" -l offline -d 'Use the embedded catalog instead of the AWS APIs (no credentials needed)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand instance-types" -s v -l verbose -d 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand instance-types" -s y -l yes -d 'Do not prompt: answer yes to every confirmation'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand instance-types" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand instance-types" -s V -l version -d 'Print version'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand completion" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)' -r -F
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand completion" -l context -d 'The kubeconfig context to use (default: the current context)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand completion" -s n -l namespace -d 'Namespace for namespaced objects (default: the context\'s namespace)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand completion" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
yaml\t'YAML (deterministic key order)'
json\t'JSON (deterministic key order, pretty-printed)'"
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand completion" -l region -d 'AWS region (default: AWS_REGION, then the profile\'s region)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand completion" -l profile -d 'AWS shared-config profile (default: AWS_PROFILE, then "default")' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand completion" -l cluster-name -d 'EKS cluster name' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand completion" -s v -l verbose -d 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand completion" -s y -l yes -d 'Do not prompt: answer yes to every confirmation'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand completion" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand completion" -s V -l version -d 'Print version'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand version" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)' -r -F
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand version" -l context -d 'The kubeconfig context to use (default: the current context)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand version" -s n -l namespace -d 'Namespace for namespaced objects (default: the context\'s namespace)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand version" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
yaml\t'YAML (deterministic key order)'
json\t'JSON (deterministic key order, pretty-printed)'"
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand version" -l region -d 'AWS region (default: AWS_REGION, then the profile\'s region)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand version" -l profile -d 'AWS shared-config profile (default: AWS_PROFILE, then "default")' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand version" -l cluster-name -d 'EKS cluster name' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand version" -s v -l verbose -d 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand version" -s y -l yes -d 'Do not prompt: answer yes to every confirmation'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand version" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand version" -s V -l version -d 'Print version'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand help; and not __fish_seen_subcommand_from setup convert run scale-to-zero scale-up simulate instance-types completion version help" -f -a "setup" -d 'Create Karpenter\'s IAM roles and policies, interruption queue and EventBridge rules'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand help; and not __fish_seen_subcommand_from setup convert run scale-to-zero scale-up simulate instance-types completion version help" -f -a "convert" -d 'Convert v1alpha5/v1alpha1/v1beta1 Karpenter objects to NodePools and EC2NodeClasses'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand help; and not __fish_seen_subcommand_from setup convert run scale-to-zero scale-up simulate instance-types completion version help" -f -a "run" -d 'Run Karpenter\'s controllers in the foreground (or in the cluster: --print-manifests)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand help; and not __fish_seen_subcommand_from setup convert run scale-to-zero scale-up simulate instance-types completion version help" -f -a "scale-to-zero" -d 'Take NodePools to zero capacity, and restore them later'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand help; and not __fish_seen_subcommand_from setup convert run scale-to-zero scale-up simulate instance-types completion version help" -f -a "scale-up" -d 'Restore pools taken to zero by scale-to-zero (same as `scale-to-zero --restore`)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand help; and not __fish_seen_subcommand_from setup convert run scale-to-zero scale-up simulate instance-types completion version help" -f -a "simulate" -d 'Simulate Karpenter\'s provisioning (manifests or cluster): NodeClaims, price, pending pods'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand help; and not __fish_seen_subcommand_from setup convert run scale-to-zero scale-up simulate instance-types completion version help" -f -a "instance-types" -d 'List the instance types Karpenter would consider, cheapest first'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand help; and not __fish_seen_subcommand_from setup convert run scale-to-zero scale-up simulate instance-types completion version help" -f -a "completion" -d 'Print a shell completion script'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand help; and not __fish_seen_subcommand_from setup convert run scale-to-zero scale-up simulate instance-types completion version help" -f -a "version" -d 'Print the version'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand help; and not __fish_seen_subcommand_from setup convert run scale-to-zero scale-up simulate instance-types completion version help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand help; and __fish_seen_subcommand_from scale-to-zero" -f -a "schedule" -d 'Print a ServiceAccount, ClusterRole/Binding and two CronJobs that scale down and up on a schedule'
