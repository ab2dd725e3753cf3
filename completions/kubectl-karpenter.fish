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
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_needs_command" -f -a "run" -d 'Run Karpenter\'s provisioning and disruption loops in the foreground'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_needs_command" -f -a "scale-to-zero" -d 'Take NodePools to zero capacity, and restore them later'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_needs_command" -f -a "scale-up" -d 'Restore pools taken to zero by scale-to-zero (same as `scale-to-zero --restore`)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_needs_command" -f -a "completion" -d 'Print a shell completion script'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_needs_command" -f -a "version" -d 'Print the version'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand setup" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)' -r -F
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand setup" -l context -d 'The kubeconfig context to use (default: the current context)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand setup" -s n -l namespace -d 'Namespace for namespaced objects (default: the context\'s namespace)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand setup" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
yaml\t'YAML (deterministic key order)'
json\t'JSON (deterministic key order, pretty-printed)'"
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand setup" -l region -d 'AWS region (default: AWS_REGION, then the profile\'s region)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand setup" -l profile -d 'AWS shared-config profile (default: AWS_PROFILE, then "default")' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand setup" -l cluster-name -d 'EKS cluster name' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand setup" -s v -l verbose -d 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand setup" -s y -l yes -d 'Do not prompt: answer yes to every confirmation'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand setup" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand setup" -s V -l version -d 'Print version'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand convert" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)' -r -F
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand convert" -l context -d 'The kubeconfig context to use (default: the current context)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand convert" -s n -l namespace -d 'Namespace for namespaced objects (default: the context\'s namespace)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand convert" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
yaml\t'YAML (deterministic key order)'
json\t'JSON (deterministic key order, pretty-printed)'"
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand convert" -l region -d 'AWS region (default: AWS_REGION, then the profile\'s region)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand convert" -l profile -d 'AWS shared-config profile (default: AWS_PROFILE, then "default")' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand convert" -l cluster-name -d 'EKS cluster name' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand convert" -s v -l verbose -d 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand convert" -s y -l yes -d 'Do not prompt: answer yes to every confirmation'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand convert" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand convert" -s V -l version -d 'Print version'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)' -r -F
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l context -d 'The kubeconfig context to use (default: the current context)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -s n -l namespace -d 'Namespace for namespaced objects (default: the context\'s namespace)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
yaml\t'YAML (deterministic key order)'
json\t'JSON (deterministic key order, pretty-printed)'"
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l region -d 'AWS region (default: AWS_REGION, then the profile\'s region)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l profile -d 'AWS shared-config profile (default: AWS_PROFILE, then "default")' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -l cluster-name -d 'EKS cluster name' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -s v -l verbose -d 'More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -s y -l yes -d 'Do not prompt: answer yes to every confirmation'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand run" -s V -l version -d 'Print version'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and not __fish_seen_subcommand_from schedule help" -s l -l selector -d 'Pools whose labels match this selector (kubectl syntax: `env=dev,team in (a,b)`)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and not __fish_seen_subcommand_from schedule help" -l exclude -d 'Leave these pools out (repeatable or comma-separated)' -r
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and not __fish_seen_subcommand_from schedule help" -l kind -d 'Only NodePools (karpenter.sh v1/v1beta1) or only Provisioners (v1alpha5)' -r -f -a "nodepool\t'`karpenter.sh` NodePools (v1 or v1beta1)'
provisioner\t'`karpenter.sh/v1alpha5` Provisioners'"
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
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand scale-to-zero; and not __fish_seen_subcommand_from schedule help" -l force -d 'Also remove nodes with do-not-disrupt pods or blocked by a PodDisruptionBudget'
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
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand help; and not __fish_seen_subcommand_from setup convert run scale-to-zero scale-up completion version help" -f -a "setup" -d 'Create Karpenter\'s IAM roles and policies, interruption queue and EventBridge rules'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand help; and not __fish_seen_subcommand_from setup convert run scale-to-zero scale-up completion version help" -f -a "convert" -d 'Convert v1alpha5/v1alpha1/v1beta1 Karpenter objects to NodePools and EC2NodeClasses'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand help; and not __fish_seen_subcommand_from setup convert run scale-to-zero scale-up completion version help" -f -a "run" -d 'Run Karpenter\'s provisioning and disruption loops in the foreground'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand help; and not __fish_seen_subcommand_from setup convert run scale-to-zero scale-up completion version help" -f -a "scale-to-zero" -d 'Take NodePools to zero capacity, and restore them later'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand help; and not __fish_seen_subcommand_from setup convert run scale-to-zero scale-up completion version help" -f -a "scale-up" -d 'Restore pools taken to zero by scale-to-zero (same as `scale-to-zero --restore`)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand help; and not __fish_seen_subcommand_from setup convert run scale-to-zero scale-up completion version help" -f -a "completion" -d 'Print a shell completion script'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand help; and not __fish_seen_subcommand_from setup convert run scale-to-zero scale-up completion version help" -f -a "version" -d 'Print the version'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand help; and not __fish_seen_subcommand_from setup convert run scale-to-zero scale-up completion version help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kubectl-karpenter -n "__fish_kubectl_karpenter_using_subcommand help; and __fish_seen_subcommand_from scale-to-zero" -f -a "schedule" -d 'Print a ServiceAccount, ClusterRole/Binding and two CronJobs that scale down and up on a schedule'
