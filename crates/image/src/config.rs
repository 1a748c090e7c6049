//! The image config (OCI image-spec config.md; Docker's is the same shape), typed.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// The parts of the image config rharden uses. Unknown fields are ignored: real configs carry many.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ImageConfig {
    #[serde(default, deserialize_with = "null_default")]
    pub architecture: String,
    #[serde(default, deserialize_with = "null_default")]
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub author: Option<String>,
    /// The runtime defaults (`config` in the JSON; `null` in some images).
    #[serde(default, deserialize_with = "null_default")]
    pub config: RuntimeConfig,
    #[serde(default, deserialize_with = "null_default")]
    pub rootfs: RootFs,
    #[serde(default, deserialize_with = "null_default")]
    pub history: Vec<HistoryEntry>,
}

/// What a container of this image runs with.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct RuntimeConfig {
    #[serde(rename = "User", default)]
    pub user: Option<String>,
    #[serde(rename = "Env", default)]
    pub env: Option<Vec<String>>,
    #[serde(rename = "Entrypoint", default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(rename = "Cmd", default)]
    pub cmd: Option<Vec<String>>,
    #[serde(rename = "WorkingDir", default)]
    pub working_dir: Option<String>,
    #[serde(rename = "Labels", default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(rename = "ExposedPorts", default)]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(rename = "Volumes", default)]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(rename = "Healthcheck", default)]
    pub healthcheck: Option<Healthcheck>,
    #[serde(rename = "StopSignal", default)]
    pub stop_signal: Option<String>,
    #[serde(rename = "Shell", default)]
    pub shell: Option<Vec<String>>,
    #[serde(rename = "OnBuild", default)]
    pub on_build: Option<Vec<String>>,
}

/// Docker's HEALTHCHECK (durations in nanoseconds).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Healthcheck {
    #[serde(rename = "Test", default)]
    pub test: Option<Vec<String>>,
    #[serde(rename = "Interval", default)]
    pub interval: Option<i64>,
    #[serde(rename = "Timeout", default)]
    pub timeout: Option<i64>,
    #[serde(rename = "StartPeriod", default)]
    pub start_period: Option<i64>,
    #[serde(rename = "Retries", default)]
    pub retries: Option<i64>,
}

/// `rootfs`: the uncompressed digests of the layers, bottom first.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct RootFs {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default, deserialize_with = "null_default")]
    pub diff_ids: Vec<String>,
}

/// One build step. Steps with `empty_layer: true` made no layer.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct HistoryEntry {
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub empty_layer: bool,
}

impl RuntimeConfig {
    /// `Env` split into (name, value); an entry without `=` has an empty value.
    pub fn env_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.env
            .iter()
            .flatten()
            .map(|kv| kv.split_once('=').unwrap_or((kv.as_str(), "")))
    }

    /// Whether the image runs as root: no USER, or USER root / 0 (with any group).
    pub fn runs_as_root(&self) -> bool {
        let user = self.user.as_deref().unwrap_or("").trim();
        let name = user.split(':').next().unwrap_or("");
        name.is_empty() || name == "root" || name == "0"
    }
}

impl ImageConfig {
    /// `os/arch[/variant]`.
    pub fn platform(&self) -> String {
        match &self.variant {
            Some(v) if !v.is_empty() => format!("{}/{}/{}", self.os, self.architecture, v),
            _ => format!("{}/{}", self.os, self.architecture),
        }
    }
}

fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_docker_config_with_nulls() {
        let json = r#"{"architecture":"amd64","os":"linux","config":{"User":"","Env":["PATH=/bin","A"],
            "Cmd":["sh"],"Healthcheck":{"Test":["CMD","true"],"Interval":1000},"Labels":null},
            "rootfs":{"type":"layers","diff_ids":["sha256:00"]},
            "history":[{"created_by":"COPY x","empty_layer":false},{"created_by":"ENV A","empty_layer":true}]}"#;
        let c: ImageConfig = serde_json::from_str(json).unwrap();
        assert!(c.config.runs_as_root());
        assert_eq!(
            c.config.env_pairs().collect::<Vec<_>>(),
            vec![("PATH", "/bin"), ("A", "")]
        );
        assert_eq!(c.history.len(), 2);
        assert!(c.history[1].empty_layer);
        assert_eq!(c.platform(), "linux/amd64");
        let c: ImageConfig = serde_json::from_str(r#"{"config":null,"history":null}"#).unwrap();
        assert!(c.config.cmd.is_none());
    }

    #[test]
    fn root_detection() {
        let cfg = |u: &str| RuntimeConfig {
            user: Some(u.into()),
            ..Default::default()
        };
        assert!(cfg("0:0").runs_as_root());
        assert!(cfg("root").runs_as_root());
        assert!(!cfg("65534:65534").runs_as_root());
        assert!(!cfg("app").runs_as_root());
    }
}
