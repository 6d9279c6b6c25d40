//! The resolved function model: what an s.yaml means once variables are resolved and fields validated.
//! Every other crate works from these types, never from YAML.

use crate::mount::StorageMount;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// A project: one s.yaml and the functions it declares.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    /// The project folder (absolute): the `fcemu.project` label and the home of `.fcemu/`.
    pub dir: PathBuf,
    /// The s.yaml that was read.
    pub template: PathBuf,
    /// The application name (`name:` at the top of s.yaml).
    pub name: String,
    /// `access:` at the top of s.yaml: the Serverless Devs access (in `~/.s/access.yaml`) it deploys with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access: Option<String>,
    pub functions: Vec<FunctionSpec>,
    /// Custom domains (`fc3-domain`, FC 2.0's `customDomains`): their routes take HTTP trigger traffic.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<crate::CustomDomain>,
    /// Each function's Serverless Devs `actions` that prepare it (`fcemu build` runs them), by function
    /// name; a function without any has no entry.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub actions: BTreeMap<String, Vec<Actions>>,
    /// `x-fcemu-layers` at the top of the s.yaml: the local folder or `.zip` that stands in for a layer
    /// ARN fcemu cannot provide itself (as `--layer ARN=PATH` does).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub layer_paths: BTreeMap<String, PathBuf>,
    /// Things worth saying that are not errors (triggers not emulated, hooks FC would reject, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Code that is not there yet and that the functions' actions make (`fcemu build`): what serving
    /// the project says is missing until then.
    #[serde(skip)]
    pub unbuilt: Option<crate::SpecErrors>,
    /// Fields accepted and ignored because they mean nothing locally (VPC, NAS, logs, layers, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<String>,
}

/// One hook of a resource's `actions` (`pre-deploy`, as written), with its steps in order.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Actions {
    pub hook: String,
    pub steps: Vec<ActionStep>,
}

/// One step of an action.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub enum ActionStep {
    /// `run: COMMAND` in `path:` (absolute here), by the shell of this machine, as `s` runs it.
    Run {
        command: String,
        folder: PathBuf,
        /// `allow_failure: true`: a failing command does not stop the build.
        allow_failure: bool,
    },
    /// `component: fc3 build ...`: Serverless Devs' own build of the function's dependencies.
    Fc3Build { args: Vec<String> },
    /// A `component:` other than fc3 build, or a `plugin:`: nothing to do locally, and said so.
    Skipped { what: String },
}

impl Project {
    pub fn function(&self, name: &str) -> Option<&FunctionSpec> {
        self.functions.iter().find(|f| f.name == name)
    }
}

/// The two s.yaml editions say the same things with different keys and nesting; a few behaviours differ too
/// (FC 2.0's HTTP functions are called as web handlers, FC 3.0's get an HTTP trigger event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Edition {
    /// `edition: 3.0.0`, component fc3: `resources.R.props`.
    #[serde(rename = "3.0")]
    Fc3,
    /// `edition: 1.0.0`, component fc: `services.S.props.function` (and `.triggers`).
    #[serde(rename = "2.0")]
    Fc2,
}

/// FC's runtime families that fcemu runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Runtime {
    CustomContainer,
    /// `custom`, `custom.debian10`, `custom.debian11`, `custom.debian12`: the exact name is kept.
    Custom(String),
    /// FC's built-in runtimes (`python3.10`, `nodejs18`, ...), served by a runtime of fcemu's own that
    /// implements the language's programming model; the exact name is kept.
    BuiltIn {
        language: Language,
        name: String,
    },
}

/// The languages whose built-in runtimes fcemu serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Python,
    Nodejs,
    /// A Linux executable built with FC's Go SDK, served FC's runtime API by fcemu's runtime.
    Go,
    /// FC's PHP programming model on php-cli.
    Php,
    /// FC's Java programming model (fc-java-core's handlers) on Debian's OpenJDK.
    Java,
}

/// The runtime names fcemu accepts, by family, as `validate` and `up` list them.
pub const CUSTOM_RUNTIMES: [&str; 5] = [
    "custom-container",
    "custom",
    "custom.debian10",
    "custom.debian11",
    "custom.debian12",
];
pub const PYTHON_RUNTIMES: [&str; 5] = [
    "python3",
    "python3.6",
    "python3.9",
    "python3.10",
    "python3.12",
];
pub const NODEJS_RUNTIMES: [&str; 5] = ["nodejs12", "nodejs14", "nodejs16", "nodejs18", "nodejs20"];
pub const GO_RUNTIMES: [&str; 1] = ["go1"];
pub const PHP_RUNTIMES: [&str; 2] = ["php7.2", "php8.x"];
/// All on Debian's OpenJDK 17 unless `--runtime-image java8=IMAGE` names another JDK: fcemu's runtime is Java 8
/// class files, so any JDK from 8 on runs it.
pub const JAVA_RUNTIMES: [&str; 4] = ["java8", "java11", "java17", "java21"];

/// The built-in runtime names fcemu serves, as `validate`, `up` and `--runtime-image` list them.
pub fn built_in_runtimes() -> Vec<&'static str> {
    [
        &PYTHON_RUNTIMES[..],
        &NODEJS_RUNTIMES[..],
        &GO_RUNTIMES[..],
        &PHP_RUNTIMES[..],
        &JAVA_RUNTIMES[..],
    ]
    .concat()
}

/// Where a built-in runtime's container sees fcemu's runtime files (mounted read-only). Not under `/opt`,
/// which is the layers' own.
pub const RUNTIME_FILES_DIR: &str = "/var/fcemu/runtime";

impl Language {
    pub fn name(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::Nodejs => "nodejs",
            Language::Go => "go",
            Language::Php => "php",
            Language::Java => "java",
        }
    }

    /// The local image its functions run on unless `--runtime-image NAME=IMAGE` says otherwise: Debian's
    /// interpreter, nothing more (fcemu's runtime is mounted in).
    pub fn default_image(self) -> String {
        format!("fcemu-runtime-{}:bookworm", self.name())
    }

    /// Libraries FC's runtime for this language ships, which code uses without installing them: the name
    /// code imports or requires, and the package that provides it. fcemu provides the Python ones a
    /// function imports (`up`, with pip, once); for the others its runtime names what is missing.
    pub fn shipped_libraries(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Language::Python => &[
                ("oss2", "oss2"),
                ("tablestore", "tablestore"),
                ("fc2", "aliyun-fc2"),
                ("aliyunsdkcore", "aliyun-python-sdk-core"),
                ("aliyunsdkkms", "aliyun-python-sdk-kms"),
                (
                    "alibabacloud_fc_open20210406",
                    "alibabacloud_fc_open20210406",
                ),
                ("alibabacloud_tea_openapi", "alibabacloud_tea_openapi"),
            ],
            Language::Nodejs => &[
                ("ali-oss", "ali-oss"),
                ("@alicloud/fc2", "@alicloud/fc2"),
                ("@alicloud/fc-open20210406", "@alicloud/fc-open20210406"),
                ("@alicloud/pop-core", "@alicloud/pop-core"),
                ("tablestore", "tablestore"),
                ("co", "co"),
            ],
            Language::Go | Language::Php | Language::Java => &[],
        }
    }

    /// The interpreter's executable in the image: the one fcemu's runtime runs on (for Go, the runtime API's
    /// server; the function is its own executable).
    pub fn interpreter(self) -> &'static str {
        match self {
            Language::Python | Language::Go => "python3",
            Language::Nodejs => "node",
            Language::Php => "php",
            Language::Java => "java",
        }
    }

    /// How the container starts fcemu's runtime for this language.
    pub fn entrypoint(self) -> Vec<String> {
        let bootstrap = match self {
            // Unbuffered, so a line printed is a line kept at once, as FC's Python runtime does.
            Language::Python => vec![
                "-u".to_string(),
                format!("{RUNTIME_FILES_DIR}/bootstrap.py"),
            ],
            Language::Nodejs => vec![format!("{RUNTIME_FILES_DIR}/bootstrap.js")],
            Language::Go => vec!["-u".to_string(), format!("{RUNTIME_FILES_DIR}/go.py")],
            Language::Php => vec![format!("{RUNTIME_FILES_DIR}/bootstrap.php")],
            // fcemu's runtime, compiled (fcemu-runtime-java:bookworm, once per content), and the Jackson it
            // reads JSON with; the function's code gets a class loader of its own.
            Language::Java => vec![
                "-cp".to_string(),
                format!("{RUNTIME_FILES_DIR}/classes:{RUNTIME_FILES_DIR}/lib/*"),
                "fcemu.runtime.Bootstrap".to_string(),
            ],
        };
        std::iter::once(self.interpreter().to_string())
            .chain(bootstrap)
            .collect()
    }
}

/// A `runtime:` value fcemu does not run, with the ones it does.
#[derive(Debug, thiserror::Error)]
pub enum UnknownRuntime {
    /// FC's .NET runtimes: fcemu has no runtime for them, and Debian packages no .NET to run one on.
    #[error(
        "is \"{name}\": fcemu has no .NET runtime (it runs {known}). Run the function as a custom container: publish it into an image with the .NET runtime (`dotnet publish`, FROM an image of yours with .NET) whose entrypoint starts an HTTP server on port 9000 answering POST /invoke (and POST /initialize, GET /pre-stop if you use the hooks), then use runtime: custom-container with customContainerConfig.image"
    )]
    DotNet { name: String, known: String },
    #[error("is \"{name}\", allowed: {known}")]
    Unknown { name: String, known: String },
}

impl Runtime {
    /// Reads a `runtime:` value; the error says which runtimes fcemu runs and what to do otherwise.
    pub fn parse(name: &str) -> Result<Runtime, UnknownRuntime> {
        if name == "custom-container" {
            return Ok(Runtime::CustomContainer);
        }
        if CUSTOM_RUNTIMES.contains(&name) {
            return Ok(Runtime::Custom(name.to_string()));
        }
        let language = if PYTHON_RUNTIMES.contains(&name) {
            Language::Python
        } else if NODEJS_RUNTIMES.contains(&name) {
            Language::Nodejs
        } else if GO_RUNTIMES.contains(&name) {
            Language::Go
        } else if PHP_RUNTIMES.contains(&name) {
            Language::Php
        } else if JAVA_RUNTIMES.contains(&name) {
            Language::Java
        } else {
            let known = [&CUSTOM_RUNTIMES[..], &built_in_runtimes()[..]]
                .concat()
                .join(", ");
            let name = name.to_string();
            return Err(match name.starts_with("dotnet") {
                true => UnknownRuntime::DotNet { name, known },
                false => UnknownRuntime::Unknown { name, known },
            });
        };
        Ok(Runtime::BuiltIn {
            language,
            name: name.to_string(),
        })
    }

    pub fn name(&self) -> &str {
        match self {
            Runtime::CustomContainer => "custom-container",
            Runtime::Custom(name) | Runtime::BuiltIn { name, .. } => name,
        }
    }

    pub fn language(&self) -> Option<Language> {
        match self {
            Runtime::BuiltIn { language, .. } => Some(*language),
            _ => None,
        }
    }

    /// Built-in runtimes print FC's own `FC Invoke Start RequestId: ...` lines (and the hooks' pairs), as
    /// FC's runtimes do; for the others fcemu prints them.
    pub fn prints_lifecycle_lines(&self) -> bool {
        self.language().is_some()
    }
}

/// The local image every custom runtime (`custom`, `custom.debian10/11/12`) runs on unless
/// `--runtime-image RUNTIME=IMAGE` says otherwise: FC's custom runtime environment made from Debian's
/// packages, with the interpreters at FC's `/var/fc/lang` paths (`runtimes/custom/`). One Debian stands
/// in for FC's four; `up` says which interpreter runs for which path.
pub const CUSTOM_RUNTIME_IMAGE: &str = "fcemu-runtime-custom:bookworm";

/// GPU card types FC 3.0 offers, with each card's memory in MB.
pub const GPU_TYPES: [(&str, u32); 7] = [
    ("fc.gpu.tesla.1", 16 * 1024),
    ("fc.gpu.ampere.1", 24 * 1024),
    ("fc.gpu.ada.1", 48 * 1024),
    ("fc.gpu.ada.2", 24 * 1024),
    ("fc.gpu.ada.3", 48 * 1024),
    ("fc.gpu.hopper.1", 96 * 1024),
    ("fc.gpu.xpu.1", 96 * 1024),
];

/// One function, resolved.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FunctionSpec {
    /// `functionName`: how FC, the CLI and the labels name it.
    pub name: String,
    /// The s.yaml resource (FC 3.0) or service (FC 2.0) key that declared it.
    pub resource: String,
    pub region: String,
    pub runtime: Runtime,
    pub edition: Edition,
    pub handler: String,
    pub description: String,
    /// vCPUs (FC: 0.05..16).
    pub cpu: f64,
    pub memory_size_mb: u32,
    pub disk_size_mb: u32,
    #[serde(with = "duration_secs")]
    pub timeout: Duration,
    pub instance_concurrency: u32,
    pub environment_variables: BTreeMap<String, String>,
    pub container: ContainerConfig,
    pub initializer: Option<Hook>,
    pub pre_stop: Option<Hook>,
    /// FC 2.0's PreFreeze: `GET /pre-freeze` before each freeze.
    pub pre_freeze: Option<Hook>,
    pub gpu: Option<GpuConfig>,
    pub provision: ProvisionConfig,
    /// `concurrencyConfig.reservedConcurrency`: a cap on the number of instances.
    pub reserved_concurrency: Option<u32>,
    pub http_trigger: Option<HttpTrigger>,
    /// Timer and event-source triggers, in the order written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub event_triggers: Vec<crate::EventTrigger>,
    /// `role` (FC 2.0: the service's): the RAM role whose temporary credentials each request carries.
    pub role: Option<String>,
    /// `asyncInvokeConfig` (FC 2.0: `asyncConfiguration`): how asynchronous invocations are run; None: FC's
    /// defaults.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub async_invoke: Option<crate::AsyncInvokeConfig>,
    /// `sessionAffinity` with its `sessionAffinityConfig`: requests of one session go to one instance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_affinity: Option<crate::SessionAffinity>,
    /// `instanceIsolationMode`: a session or a request to an instance of its own.
    #[serde(skip_serializing_if = "crate::IsolationMode::is_share")]
    pub instance_isolation_mode: crate::IsolationMode,
}

/// How the function's container is made and reached.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ContainerConfig {
    pub image: String,
    /// The port the function's HTTP server listens on (default 9000).
    pub port: u16,
    /// Replaces the image's ENTRYPOINT when set.
    pub entrypoint: Option<Vec<String>>,
    /// Replaces the image's CMD when set.
    pub command: Option<Vec<String>>,
    /// fcemu's `x-fcemu-build`: build the image locally when it is missing.
    pub build: Option<ImageBuild>,
    /// Custom and built-in runtimes: the code, mounted read-only at `/code` (also the working directory). A
    /// folder, or a `.zip` that `up` unpacks into its cache and replaces with that folder.
    pub code: Option<PathBuf>,
    /// Built-in runtimes: the host folder with fcemu's runtime for the language, mounted read-only at
    /// [`RUNTIME_FILES_DIR`]. `up` writes it and fills this in.
    pub runtime_files: Option<PathBuf>,
    /// `healthCheckConfig`: when set, Runtime Init waits for it instead of a plain connect.
    pub health_check: Option<HealthCheck>,
    /// `layers`: the layer ARNs, in the order written (the first one wins where two hold the same file).
    pub layers: Vec<String>,
    /// The layers' files merged into one folder, mounted read-only at `/opt` as FC does. `up` makes it
    /// and fills this in.
    pub opt: Option<PathBuf>,
    /// `nasConfig` and `ossMountConfig`'s mount points.
    pub storage: Vec<StorageMount>,
    /// `nasConfig`'s `userId` and `groupId`: who owns the NAS folders' files (FC's 10003 by default).
    pub nas_owner: Option<(u32, u32)>,
}

/// FC's `healthCheckConfig`: an HTTP GET probe that defines when the server is ready.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    pub http_get_url: String,
    #[serde(with = "duration_secs")]
    pub initial_delay: Duration,
    #[serde(with = "duration_secs")]
    pub period: Duration,
    #[serde(with = "duration_secs")]
    pub timeout: Duration,
    pub failure_threshold: u32,
    pub success_threshold: u32,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImageBuild {
    /// The build context (absolute).
    pub context: PathBuf,
    /// The Dockerfile, relative to the context.
    pub dockerfile: String,
}

/// A lifecycle hook (Initializer or PreStop).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Hook {
    pub action: HookAction,
    #[serde(with = "duration_secs")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum HookAction {
    /// Invoke code: an HTTP call to the instance (`POST /initialize`, `GET /pre-stop`).
    Handler(String),
    /// Execute instruction: a command run inside the container.
    Command(Vec<String>),
}

impl Hook {
    pub fn handler(&self) -> Option<&str> {
        match &self.action {
            HookAction::Handler(h) => Some(h),
            HookAction::Command(_) => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GpuConfig {
    pub gpu_type: String,
    pub gpu_memory_size_mb: u32,
    /// Where `gpuMemorySize` is written (its field path), for errors found later against the cards.
    #[serde(skip)]
    pub memory_field: String,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionConfig {
    /// Instances kept created and initialized from `up` on (`defaultTarget`, or `scalingConfig.minInstances`).
    pub target: u32,
    pub always_allocate_cpu: bool,
    pub always_allocate_gpu: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HttpTrigger {
    pub name: String,
    /// Upper-case HTTP methods the trigger accepts.
    pub methods: Vec<String>,
    /// Who may call it.
    #[serde(flatten)]
    pub auth: crate::TriggerAuth,
}

impl HttpTrigger {
    pub fn allows(&self, method: &str) -> bool {
        self.methods.iter().any(|m| m.eq_ignore_ascii_case(method))
    }
}

pub(crate) mod duration_secs {
    use serde::Serializer;
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}
