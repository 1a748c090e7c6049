//! The hygiene analyzer: how the image was built and how it will run, judged from its config
//! and build history (the checks of Dockle and the CIS Docker Benchmark §4). No file content is
//! needed; only `sudo-installed` looks at the final filesystem.
//!
//! Every rule has an id, a severity, a title that says why it matters and a fix, listed in
//! [`RULES`]. Findings are one per rule and place: a config key (`User`, `Env/DB_PASSWORD`,
//! `ExposedPorts/22/tcp`, `reference`), a history step (`history/3`), or a file.
//!
//! ```no_run
//! use rharden_image::{Image, OpenOptions};
//! use rharden_scan::analysis::Context;
//!
//! let image = Image::open("base.oci.tar".as_ref(), &OpenOptions::default())?;
//! let walk = image.walk(|_| ())?;
//! let ctx = Context { image: &image, layers: &walk.layers, files: &walk.files };
//! for finding in rharden_scan::hygiene::findings(&ctx) {
//!     println!("{} {}", finding.rule_id, finding.title);
//! }
//! # Ok::<(), rharden_image::ImageError>(())
//! ```

mod config;
mod history;
mod shell;

use crate::analysis::Context;
use crate::finding::{Finding, Location, Severity};

/// A hygiene rule: what it reports and how to fix it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub title: &'static str,
    pub fix: &'static str,
}

pub const ROOT_USER: Rule = Rule {
    id: "root-user",
    severity: Severity::Medium,
    title: "runs as root: a process that breaks out of the application is root in the container, and on the host without user namespaces",
    fix: "Create a user and add `USER <uid>:<gid>` (numeric, so that runAsNonRoot can verify it) after the steps that need root.",
};
pub const NO_HEALTHCHECK: Rule = Rule {
    id: "no-healthcheck",
    severity: Severity::Low,
    title: "no HEALTHCHECK: a hung container looks healthy",
    fix: "Add `HEALTHCHECK CMD …` (docker format images), or define liveness/readiness probes where the image runs (OCI configs cannot carry one).",
};
pub const ADD_INSTEAD_OF_COPY: Rule = Rule {
    id: "add-instead-of-copy",
    severity: Severity::Low,
    title: "ADD of local files: ADD also fetches URLs and unpacks archives, COPY does only what is meant",
    fix: "Use `COPY`; keep `ADD` for a tar archive that must be unpacked or a remote file pinned with `--checksum`.",
};
pub const APT_UPGRADE: Rule = Rule {
    id: "apt-upgrade",
    severity: Severity::Low,
    title: "apt-get upgrade in the build: the image's packages drift from its base image's tag and builds stop being reproducible",
    fix: "Rebuild on a newer (pinned) base image instead of upgrading in place; install the specific versions you need.",
};
pub const SUDO_INSTALLED: Rule = Rule {
    id: "sudo-installed",
    severity: Severity::Medium,
    title: "sudo is installed: a setuid-root way up for any process in the container",
    fix: "Remove sudo; do root-only setup at build time, or drop privileges at start with `setpriv`/`gosu`.",
};
pub const SUDO_IN_BUILD: Rule = Rule {
    id: "sudo-in-build",
    severity: Severity::Low,
    title:
        "sudo in a build step: steps run as the current USER, sudo only hides which user needs what",
    fix: "Switch users with `USER root` / `USER app` around the steps instead of sudo.",
};
pub const APT_RECOMMENDS: Rule = Rule {
    id: "apt-install-recommends",
    severity: Severity::Low,
    title: "apt-get install without --no-install-recommends: pulls in packages nobody asked for (more size, more CVEs)",
    fix: "`apt-get install -y --no-install-recommends …`.",
};
pub const PACKAGE_CACHE: Rule = Rule {
    id: "package-cache",
    severity: Severity::Low,
    title: "package manager cache left in the layer: dead weight in every pull, stale indexes",
    fix: "Clean in the same RUN: `rm -rf /var/lib/apt/lists/*` after apt-get install, `apk add --no-cache`, `pip install --no-cache-dir`, `yum/dnf clean all`.",
};
pub const SENSITIVE_PORT: Rule = Rule {
    id: "sensitive-port",
    severity: Severity::Medium,
    title: "exposes a remote-administration port",
    fix: "Do not run remote-administration daemons in the container (use `docker exec`/`kubectl exec`); remove the EXPOSE.",
};
pub const SECRET_ENV_NAME: Rule = Rule {
    id: "secret-env-name",
    severity: Severity::Medium,
    title: "an ENV name that holds a secret: whatever it is set to is baked into the config, visible to anyone who pulls the image",
    fix: "Pass secrets at run time (orchestrator secrets, a mounted file and a `*_FILE` variable), or at build time with `RUN --mount=type=secret`; never `ENV`.",
};
pub const UNPINNED_REFERENCE: Rule = Rule {
    id: "unpinned-reference",
    severity: Severity::Low,
    title: "the image reference is not pinned by digest: `latest` (or a tag) can point at other content tomorrow",
    fix: "Refer to the image as `name@sha256:…` (keep the tag for readers: `name:1.2.3@sha256:…`), and tag releases with versions.",
};
pub const CURL_PIPE_SHELL: Rule = Rule {
    id: "curl-pipe-shell",
    severity: Severity::Medium,
    title: "a downloaded script is piped into a shell: whatever the server (or anyone on the path) sends runs in the build",
    fix: "Download to a file, verify its checksum or signature, then run it (or install a package).",
};

/// Every hygiene rule.
pub const RULES: &[Rule] = &[
    ROOT_USER,
    NO_HEALTHCHECK,
    ADD_INSTEAD_OF_COPY,
    APT_UPGRADE,
    SUDO_INSTALLED,
    SUDO_IN_BUILD,
    APT_RECOMMENDS,
    PACKAGE_CACHE,
    SENSITIVE_PORT,
    SECRET_ENV_NAME,
    UNPINNED_REFERENCE,
    CURL_PIPE_SHELL,
];

impl Rule {
    /// A finding of this rule at `location`; `key` (the place) makes the fingerprint.
    fn at(&self, location: Location, key: &str) -> Finding {
        self.at_severity(self.severity, location, key)
    }

    fn at_severity(&self, severity: Severity, location: Location, key: &str) -> Finding {
        let mut f = Finding::new(self.id, "hygiene", severity, self.title, key.as_bytes());
        f.locations.push(location);
        f.fix = Some(self.fix.to_owned());
        f
    }
}

/// Every hygiene finding of the image.
pub fn findings(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = config::findings(ctx);
    out.extend(history::findings(ctx));
    out
}
