//! The `events` table: the one place that declares its columns.
//!
//! The schema is a contract with every analyst's saved SQL. A column is never renamed or retyped
//! within a major schema version; additions bump the minor version and go into `CHANGELOG.md`.
//! The version is written into every Parquet file's key-value metadata under [`SCHEMA_VERSION_KEY`].

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// Version of the `events` schema written into each Parquet file.
pub const SCHEMA_VERSION: &str = "1.2";
/// Parquet key-value metadata key holding [`SCHEMA_VERSION`].
pub const SCHEMA_VERSION_KEY: &str = "kubetrail.schema_version";

/// Column names, so that code never spells them twice.
pub mod col {
    pub const TS: &str = "ts";
    pub const STAGE_TS: &str = "stage_ts";
    pub const LATENCY_US: &str = "latency_us";
    pub const AUDIT_ID: &str = "audit_id";
    pub const STAGE: &str = "stage";
    pub const LEVEL: &str = "level";
    pub const VERB: &str = "verb";
    pub const REQUEST_URI: &str = "request_uri";
    pub const USERNAME: &str = "username";
    pub const USER_UID: &str = "user_uid";
    pub const USER_GROUPS: &str = "user_groups";
    pub const USER_EXTRA: &str = "user_extra";
    pub const ACTOR_KIND: &str = "actor_kind";
    pub const IMPERSONATED_USERNAME: &str = "impersonated_username";
    pub const IMPERSONATED_GROUPS: &str = "impersonated_groups";
    pub const SOURCE_IP: &str = "source_ip";
    pub const PEER_IP: &str = "peer_ip";
    pub const SOURCE_IPS: &str = "source_ips";
    pub const USER_AGENT: &str = "user_agent";
    pub const RESOURCE: &str = "resource";
    pub const SUBRESOURCE: &str = "subresource";
    pub const NAMESPACE: &str = "namespace";
    pub const NAME: &str = "name";
    pub const API_GROUP: &str = "api_group";
    pub const API_VERSION: &str = "api_version";
    pub const STATUS_CODE: &str = "status_code";
    pub const STATUS_REASON: &str = "status_reason";
    pub const STATUS_MESSAGE: &str = "status_message";
    pub const DECISION: &str = "decision";
    pub const AUTHZ_REASON: &str = "authz_reason";
    pub const ANNOTATIONS: &str = "annotations";
    pub const REQUEST_OBJECT: &str = "request_object";
    pub const RESPONSE_OBJECT: &str = "response_object";
    pub const EXEC_COMMAND: &str = "exec_command";
    pub const EXEC_CONTAINER: &str = "exec_container";
    pub const POD_PRIVILEGED: &str = "pod_privileged";
    pub const POD_HOST_PID: &str = "pod_host_pid";
    pub const POD_HOST_IPC: &str = "pod_host_ipc";
    pub const POD_HOST_NETWORK: &str = "pod_host_network";
    pub const POD_HOST_PATHS: &str = "pod_host_paths";
    pub const POD_CAPABILITIES: &str = "pod_capabilities";
    pub const POD_IMAGES: &str = "pod_images";
    pub const POD_SERVICE_ACCOUNT: &str = "pod_service_account";
    pub const POD_NODE_NAME: &str = "pod_node_name";
    pub const POD_TOLERATIONS: &str = "pod_tolerations";
    pub const ROLE_REF_KIND: &str = "role_ref_kind";
    pub const ROLE_REF_NAME: &str = "role_ref_name";
    pub const SUBJECTS: &str = "subjects";
    pub const SUBJECT_KINDS: &str = "subject_kinds";
    pub const RULE_VERBS: &str = "rule_verbs";
    pub const RULE_RESOURCES: &str = "rule_resources";
    pub const REVIEW_USER: &str = "review_user";
    pub const REVIEW_GROUPS: &str = "review_groups";
    pub const REVIEW_VERB: &str = "review_verb";
    pub const REVIEW_RESOURCE: &str = "review_resource";
    pub const REVIEW_SUBRESOURCE: &str = "review_subresource";
    pub const REVIEW_NAMESPACE: &str = "review_namespace";
    pub const REVIEW_ALLOWED: &str = "review_allowed";
    pub const OBJECT_LABELS: &str = "object_labels";
    pub const OBJECT_TYPE: &str = "object_type";
    pub const WEBHOOK_URLS: &str = "webhook_urls";
    pub const WEBHOOK_FAILURE_POLICIES: &str = "webhook_failure_policies";
    pub const CSR_SIGNER: &str = "csr_signer";
    pub const CSR_USAGES: &str = "csr_usages";
    pub const CSR_USERNAME: &str = "csr_username";
    pub const SOURCE_FORMAT: &str = "source_format";
    pub const WRAPPER_TS: &str = "wrapper_ts";
    pub const WRAPPER_STREAM: &str = "wrapper_stream";
    pub const SOURCE_FILE: &str = "source_file";
    pub const SOURCE_LINE: &str = "source_line";
    pub const CLUSTER: &str = "cluster";
    pub const DAY: &str = "day";
}

/// The kind of a column, from which its Arrow type follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Timestamp,
    Int64,
    Int32,
    Bool,
    Str,
    StrList,
    StrMap,
    StrListMap,
    Date,
}

impl Kind {
    /// The SQL-facing type name printed by `kubetrail schema`.
    pub fn sql_name(self) -> &'static str {
        match self {
            Kind::Timestamp => "timestamp(us, UTC)",
            Kind::Int64 => "bigint",
            Kind::Int32 => "int",
            Kind::Bool => "boolean",
            Kind::Str => "string",
            Kind::StrList => "list<string>",
            Kind::StrMap => "map<string, string>",
            Kind::StrListMap => "map<string, list<string>>",
            Kind::Date => "date",
        }
    }
}

/// One documented column of the `events` table.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub nullable: bool,
    pub doc: &'static str,
}

const fn c(name: &'static str, kind: Kind, doc: &'static str) -> Column {
    Column {
        name,
        kind,
        nullable: true,
        doc,
    }
}

const fn required(name: &'static str, kind: Kind, doc: &'static str) -> Column {
    Column {
        name,
        kind,
        nullable: false,
        doc,
    }
}

use Kind::*;
use col::*;

/// Every column stored in the Parquet files, in file order (partition columns excluded).
pub const FILE_COLUMNS: &[Column] = &[
    required(
        TS,
        Timestamp,
        "when the API server received the request (requestReceivedTimestamp; else timestamp, metadata.creationTimestamp, then the wrapper's time), UTC",
    ),
    c(
        STAGE_TS,
        Timestamp,
        "when this stage was logged (stageTimestamp)",
    ),
    c(
        LATENCY_US,
        Int64,
        "stage_ts - ts in microseconds: how long the request had run at this stage",
    ),
    c(
        AUDIT_ID,
        Str,
        "auditID: the same for every stage of one request (GKE: operation.id, else insertId)",
    ),
    c(
        STAGE,
        Str,
        "RequestReceived, ResponseStarted, ResponseComplete or Panic",
    ),
    c(LEVEL, Str, "Metadata, Request or RequestResponse"),
    c(
        VERB,
        Str,
        "get, list, watch, create, update, patch, delete, deletecollection; lower-case HTTP method for non-resource requests",
    ),
    c(
        REQUEST_URI,
        Str,
        "path and query string as sent by the client; credentials in it (JWTs, Bearer/Basic, token= style keys, URL passwords) replaced by sha256: markers",
    ),
    c(
        USERNAME,
        Str,
        "authenticated user (user.username), e.g. system:serviceaccount:NS:NAME, system:node:NAME, system:anonymous",
    ),
    c(USER_UID, Str, "user.uid"),
    c(USER_GROUPS, StrList, "user.groups"),
    c(
        USER_EXTRA,
        StrListMap,
        "user.extra: bound service-account token facts (authentication.kubernetes.io/pod-name, node-name, credential-id), EKS arn, ...; credentials in values replaced by sha256: markers",
    ),
    required(
        ACTOR_KIND,
        Str,
        "who acted, from username and user_groups: person, service-account (outside kube-system), node, control-plane (other system: users, kube-system's service accounts), cloud-managed (EKS, AKS, GKE internals) or anonymous; files written before schema 1.2 lack it and get the same value at query time",
    ),
    c(
        IMPERSONATED_USERNAME,
        Str,
        "impersonatedUser.username when the request used Impersonate-User",
    ),
    c(IMPERSONATED_GROUPS, StrList, "impersonatedUser.groups"),
    c(
        SOURCE_IP,
        Str,
        "first of sourceIPs: the client as claimed (X-Forwarded-For can spoof it)",
    ),
    c(
        PEER_IP,
        Str,
        "last of sourceIPs: the address the API server itself saw",
    ),
    c(SOURCE_IPS, StrList, "sourceIPs as logged"),
    c(
        USER_AGENT,
        Str,
        "userAgent (client supplied, untrusted); credentials in it replaced by sha256: markers",
    ),
    c(
        RESOURCE,
        Str,
        "objectRef.resource (pods, secrets, ...); null for non-resource requests",
    ),
    c(
        SUBRESOURCE,
        Str,
        "objectRef.subresource (exec, attach, portforward, log, status, token, proxy, ...)",
    ),
    c(NAMESPACE, Str, "objectRef.namespace"),
    c(NAME, Str, "objectRef.name (often null for list and create)"),
    c(
        API_GROUP,
        Str,
        "objectRef.apiGroup; empty string for the core group",
    ),
    c(API_VERSION, Str, "objectRef.apiVersion"),
    c(
        STATUS_CODE,
        Int32,
        "responseStatus.code: HTTP status (GKE's gRPC codes are mapped to HTTP; the raw code stays in annotations['kubetrail.io/grpc-code'])",
    ),
    c(
        STATUS_REASON,
        Str,
        "responseStatus.reason (Forbidden, NotFound, AlreadyExists, ...)",
    ),
    c(STATUS_MESSAGE, Str, "responseStatus.message"),
    c(
        DECISION,
        Str,
        "annotations['authorization.k8s.io/decision']: allow or forbid",
    ),
    c(
        AUTHZ_REASON,
        Str,
        "annotations['authorization.k8s.io/reason']: which binding allowed the request",
    ),
    c(
        ANNOTATIONS,
        StrMap,
        "every audit annotation (authorization, pod-security, admission, latency); a mutating webhook's patch.webhook.admission.k8s.io/* patch on a Secret is redacted like the body, credentials in any value replaced",
    ),
    c(
        REQUEST_OBJECT,
        Str,
        "requestObject as JSON text (level Request and above); Secret values and tokens are replaced by sha256: markers",
    ),
    c(
        RESPONSE_OBJECT,
        Str,
        "responseObject as JSON text (level RequestResponse); redacted like request_object",
    ),
    c(
        EXEC_COMMAND,
        Str,
        "pods/exec: the command decoded from the request URI's command= parameters (or the body), joined by spaces; credentials in arguments replaced by sha256: markers",
    ),
    c(
        EXEC_CONTAINER,
        Str,
        "pods/exec and pods/attach: the container= parameter",
    ),
    c(
        POD_PRIVILEGED,
        Bool,
        "a pod spec in the request body (pods and pod templates of workloads) has a privileged container, init or ephemeral container",
    ),
    c(POD_HOST_PID, Bool, "the pod spec sets hostPID"),
    c(POD_HOST_IPC, Bool, "the pod spec sets hostIPC"),
    c(POD_HOST_NETWORK, Bool, "the pod spec sets hostNetwork"),
    c(
        POD_HOST_PATHS,
        StrList,
        "hostPath volume paths of the pod spec",
    ),
    c(
        POD_CAPABILITIES,
        StrList,
        "capabilities added by any container (securityContext.capabilities.add), upper case without CAP_",
    ),
    c(
        POD_IMAGES,
        StrList,
        "images of all containers, init and ephemeral containers",
    ),
    c(
        POD_SERVICE_ACCOUNT,
        Str,
        "serviceAccountName of the pod spec",
    ),
    c(
        POD_NODE_NAME,
        Str,
        "nodeName of the pod spec (pinned to a node)",
    ),
    c(
        POD_TOLERATIONS,
        StrList,
        "tolerations of the pod spec as KEY:EFFECT (KEY empty for tolerate-everything)",
    ),
    c(
        ROLE_REF_KIND,
        Str,
        "roleRef.kind of a RoleBinding or ClusterRoleBinding in the request body",
    ),
    c(ROLE_REF_NAME, Str, "roleRef.name of the binding"),
    c(
        SUBJECTS,
        StrList,
        "subjects of the binding as the username they act as: User and Group names as is, ServiceAccounts as system:serviceaccount:NS:NAME (NS the binding's own when the subject names none)",
    ),
    c(
        SUBJECT_KINDS,
        StrList,
        "kinds of the subjects (User, Group, ServiceAccount), parallel to subjects",
    ),
    c(
        RULE_VERBS,
        StrList,
        "union of rules[].verbs of a Role or ClusterRole in the request body",
    ),
    c(
        RULE_RESOURCES,
        StrList,
        "union of rules[].resources (with subresources such as pods/exec) and nonResourceURLs of the role",
    ),
    c(
        REVIEW_USER,
        Str,
        "SubjectAccessReview spec.user, or the user a TokenReview authenticated (status.user.username)",
    ),
    c(
        REVIEW_GROUPS,
        StrList,
        "SubjectAccessReview spec.groups or TokenReview status.user.groups",
    ),
    c(
        REVIEW_VERB,
        Str,
        "SubjectAccessReview resourceAttributes.verb (or nonResourceAttributes.verb)",
    ),
    c(
        REVIEW_RESOURCE,
        Str,
        "SubjectAccessReview resourceAttributes.resource (or nonResourceAttributes.path)",
    ),
    c(
        REVIEW_SUBRESOURCE,
        Str,
        "SubjectAccessReview resourceAttributes.subresource (proxy, log, stats, metrics, ...)",
    ),
    c(
        REVIEW_NAMESPACE,
        Str,
        "SubjectAccessReview resourceAttributes.namespace",
    ),
    c(
        REVIEW_ALLOWED,
        Bool,
        "the answer: SubjectAccessReview status.allowed, TokenReview status.authenticated (from the response body)",
    ),
    c(
        OBJECT_LABELS,
        StrMap,
        "metadata.labels of the object in the request body (namespaces: pod-security.kubernetes.io/*)",
    ),
    c(
        OBJECT_TYPE,
        Str,
        "type of the object in the request body: Secret type (kubernetes.io/service-account-token, bootstrap.kubernetes.io/token, ...) or Service spec.type (NodePort, LoadBalancer, ...)",
    ),
    c(
        WEBHOOK_URLS,
        StrList,
        "admission webhook targets: clientConfig.url, or service NS/NAME for in-cluster services",
    ),
    c(
        WEBHOOK_FAILURE_POLICIES,
        StrList,
        "failurePolicy of each admission webhook (Ignore fails open)",
    ),
    c(CSR_SIGNER, Str, "CertificateSigningRequest spec.signerName"),
    c(CSR_USAGES, StrList, "CertificateSigningRequest spec.usages"),
    c(
        CSR_USERNAME,
        Str,
        "CertificateSigningRequest spec.username (who asked)",
    ),
    c(
        SOURCE_FORMAT,
        Str,
        "envelope the event came in: event, eventlist, array, eks (CloudWatch JSON, Firehose), eks-insights-csv, eks-export, gke, gke-pubsub, aks, aks-table, aks-table-csv, cri, docker, legacy",
    ),
    c(
        WRAPPER_TS,
        Timestamp,
        "the wrapper's own time where there is one (GKE receiveTimestamp, AKS time or TimeGenerated, CloudWatch timestamp or @timestamp, export line time, container-log time); never used for ts when the event has its own",
    ),
    c(
        WRAPPER_STREAM,
        Str,
        "the log stream or API server instance the wrapper names: CloudWatch logStream or @logStream (EKS), AKS properties.pod or PodName, the Pub/Sub subscription (GKE)",
    ),
    required(SOURCE_FILE, Str, "the input file the event came from"),
    required(
        SOURCE_LINE,
        Int64,
        "line of the input file (1-based) the event starts on",
    ),
];

/// Partition columns, derived from the lake's directory names.
pub const PARTITION_COLUMNS: &[Column] = &[
    required(
        CLUSTER,
        Str,
        "cluster the events belong to (partition: events/cluster=NAME)",
    ),
    required(
        DAY,
        Date,
        "UTC day of ts (partition: events/day=YYYY-MM-DD); a filter on ts also prunes it",
    ),
];

fn arrow_type(kind: Kind) -> DataType {
    match kind {
        Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        Int64 => DataType::Int64,
        Int32 => DataType::Int32,
        Bool => DataType::Boolean,
        Str => DataType::Utf8,
        StrList => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        StrMap => map_type(DataType::Utf8),
        StrListMap => map_type(DataType::List(Arc::new(Field::new(
            "item",
            DataType::Utf8,
            true,
        )))),
        Date => DataType::Date32,
    }
}

fn map_type(value: DataType) -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(Fields::from(vec![
                Field::new("keys", DataType::Utf8, false),
                Field::new("values", value, true),
            ])),
            false,
        )),
        false,
    )
}

/// The Arrow field of one column.
pub fn field(column: &Column) -> Field {
    Field::new(column.name, arrow_type(column.kind), column.nullable)
}

static FILE_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(
        FILE_COLUMNS.iter().map(field).collect::<Vec<_>>(),
    ))
});

/// The schema of the Parquet files (without the partition columns).
pub fn file_schema() -> SchemaRef {
    FILE_SCHEMA.clone()
}

/// Index of a file column by name.
pub fn index_of(name: &str) -> Option<usize> {
    FILE_COLUMNS.iter().position(|c| c.name == name)
}

/// Every column of the `events` table, partition columns last.
pub fn all_columns() -> impl Iterator<Item = &'static Column> {
    FILE_COLUMNS.iter().chain(PARTITION_COLUMNS.iter())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_are_unique_and_documented() {
        let mut names: Vec<_> = all_columns().map(|c| c.name).collect();
        assert!(all_columns().all(|c| !c.doc.is_empty()));
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(n, names.len());
    }

    #[test]
    fn file_schema_has_no_unsigned_types() {
        for f in file_schema().fields() {
            assert!(!f.data_type().is_unsigned_integer(), "{}", f.name());
        }
    }
}
