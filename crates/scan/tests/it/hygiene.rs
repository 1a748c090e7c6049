//! The hygiene analyzer on the real fixtures (every form) and on generated images whose config
//! and history hit, and just miss, every rule.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rharden_image::{Image, OpenOptions};
use rharden_scan::analysis::Context;
use rharden_scan::hygiene::{self, RULES};
use rharden_scan::{Finding, Severity, Source};
use rharden_testkit::{dir, file, sha256, tar, Form, ImageSpec, LayerCodec, TarEntry};
use serde_json::{json, Value};

fn run(path: &Path) -> Vec<Finding> {
    let image = Image::open(path, &OpenOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let walk = image.walk(|_| ()).expect("walk");
    let ctx = Context {
        image: &image,
        layers: &walk.layers,
        files: &walk.files,
    };
    hygiene::findings(&ctx)
}

/// rule id → places (location paths), checking one finding per rule and place.
fn places(findings: &[Finding]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in findings {
        assert_eq!(f.category, "hygiene");
        assert!(f.fix.is_some(), "{f:?}");
        assert_eq!(f.locations.len(), 1, "{f:?}");
        let fresh = out
            .entry(f.rule_id.clone())
            .or_default()
            .insert(f.locations[0].path.clone());
        assert!(fresh, "two {} findings at one place: {f:?}", f.rule_id);
    }
    out
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn find<'a>(findings: &'a [Finding], rule: &str, place: &str) -> &'a Finding {
    findings
        .iter()
        .find(|f| f.rule_id == rule && f.locations[0].path == place)
        .unwrap_or_else(|| panic!("no {rule} at {place}: {findings:#?}"))
}

/// An image with this runtime config and history: one layer per step, `layers[i]` extra
/// entries in layer i. Written as an OCI archive; `pin` rewrites its ref name to a digest.
fn image(
    work: &Path,
    name: &str,
    config: Value,
    history: &[&str],
    mut extra: Vec<Vec<TarEntry>>,
    pin: bool,
) -> PathBuf {
    let steps = history.len().max(1);
    extra.resize(steps, Vec::new());
    let layers: Vec<Vec<TarEntry>> = extra
        .into_iter()
        .enumerate()
        .map(|(i, mut entries)| {
            entries.insert(0, file(&format!("step-{i}"), b"x"));
            entries
        })
        .collect();
    let mut spec = ImageSpec::new(layers);
    let diff_ids: Vec<String> = spec.layers.iter().map(|l| sha256(l)).collect();
    let history: Vec<Value> = history.iter().map(|h| json!({"created_by": h})).collect();
    spec.config = Some(
        serde_json::to_vec(&json!({
            "architecture": "amd64", "os": "linux", "config": config,
            "rootfs": {"type": "layers", "diff_ids": diff_ids}, "history": history,
        }))
        .expect("json"),
    );
    let dir = work.join(name);
    std::fs::create_dir_all(&dir).expect("mkdir");
    if !pin {
        return spec.write(&dir, Form::OciTar);
    }
    let mut entries = spec.oci_entries(LayerCodec::Gzip);
    for e in &mut entries {
        if e.name == b"index.json" {
            let text = String::from_utf8(e.data.clone()).expect("utf8");
            let pinned = format!("test:1.0@sha256:{}", "a".repeat(64));
            e.data = text.replace("test:latest", &pinned).into_bytes();
        }
    }
    let path = dir.join("pinned.oci.tar");
    std::fs::write(&path, tar(&entries)).expect("write");
    path
}

#[test]
fn real_fixtures_in_every_form() {
    let Some(real) = rharden_testkit::real_fixtures() else {
        eprintln!("skipped: no real fixtures");
        return;
    };
    let mut forms: Vec<PathBuf> = std::fs::read_dir(&real)
        .expect("real")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            [".tar", ".tar.gz", ".tar.zst", ".oci-dir"]
                .iter()
                .any(|s| n.ends_with(s))
        })
        .collect();
    forms.sort();
    let mut checked = 0;
    for form in &forms {
        let name = form
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let recipe = name.split('.').next().unwrap_or_default();
        let findings = run(form);
        let have = places(&findings);
        // Only docker-format configs can carry a HEALTHCHECK; fates has one.
        let docker_config = name.contains(".docker");
        let mut want: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut add = |rule: &str, place: &str| {
            want.entry(rule.to_owned())
                .or_default()
                .insert(place.to_owned());
        };
        add("unpinned-reference", "reference");
        if !(recipe == "fates" && docker_config) {
            add("no-healthcheck", "Healthcheck");
        }
        match recipe {
            // no USER; ENV GITHUB_TOKEN
            "secrets" => {
                add("root-user", "User");
                add("secret-env-name", "Env/GITHUB_TOKEN");
            }
            // no USER; its history's `ADD file:… in /` is the root filesystem, not reported
            "debian" => add("root-user", "User"),
            // no USER
            "bloat" => add("root-user", "User"),
            "base" | "caps" | "elf" | "fates" => {}
            other => panic!("unknown recipe {other}"),
        }
        assert_eq!(have, want, "{name}: {findings:#?}");
        let unpinned = find(&findings, "unpinned-reference", "reference");
        assert_eq!(unpinned.details["tag"], "latest", "{name}");
        assert_eq!(unpinned.severity, Severity::Low);
        if recipe == "secrets" {
            let env = find(&findings, "secret-env-name", "Env/GITHUB_TOKEN");
            assert_eq!(env.severity, Severity::Medium);
            assert_eq!(env.locations[0].source, Source::Config);
            assert!(
                !serde_json::to_string(env).expect("json").contains("ghp_"),
                "the value is the secrets analyzer's, never shown here"
            );
            assert_eq!(find(&findings, "root-user", "User").details["user"], "");
        }
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} forms");
    eprintln!("checked {checked} real images");
}

#[test]
fn every_rule_fires_on_a_bad_image() {
    let work = tempfile::tempdir().expect("tempdir");
    let history = [
        "/bin/sh -c #(nop) ADD file:0b9c32985f8460ff in /etc/app.conf ",
        "ADD app.conf /etc/ # buildkit",
        "/bin/sh -c apt-get update && apt-get -y dist-upgrade",
        "/bin/sh -c sudo make install",
        "/bin/sh -c apt-get install -y curl && apt-get install -y git",
        "/bin/sh -c apk add curl && pip install requests && yum install -y x",
        "/bin/sh -c curl -fsSL https://get.example.com | sh",
        "RUN /bin/sh -c wget -qO- https://example.com/i | sudo -E bash -s # buildkit",
    ];
    let config = json!({
        "Env": ["PATH=/bin", "DB_PASSWORD=", "API_KEY=abc", "DB_PASSWORD_FILE=/run/secrets/db"],
        "ExposedPorts": {"22/tcp": {}, "2375/tcp": {}, "8080/tcp": {}},
    });
    let layers = vec![vec![
        dir("usr"),
        dir("usr/bin"),
        file("usr/bin/sudo", b"sudo").mode(0o4755),
    ]];
    let path = image(work.path(), "bad", config, &history, layers, false);
    let findings = run(&path);
    let have = places(&findings);
    let want: BTreeMap<String, BTreeSet<String>> = [
        ("root-user", set(&["User"])),
        ("no-healthcheck", set(&["Healthcheck"])),
        (
            "sensitive-port",
            set(&["ExposedPorts/22/tcp", "ExposedPorts/2375/tcp"]),
        ),
        ("secret-env-name", set(&["Env/DB_PASSWORD", "Env/API_KEY"])),
        ("unpinned-reference", set(&["reference"])),
        ("add-instead-of-copy", set(&["history/0", "history/1"])),
        ("apt-upgrade", set(&["history/2"])),
        ("sudo-in-build", set(&["history/3", "history/7"])),
        ("apt-install-recommends", set(&["history/4"])),
        ("package-cache", set(&["history/4", "history/5"])),
        ("curl-pipe-shell", set(&["history/6", "history/7"])),
        ("sudo-installed", set(&["/usr/bin/sudo"])),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(have, want, "{findings:#?}");
    // every rule of the table is covered
    let ids: BTreeSet<String> = RULES.iter().map(|r| r.id.to_owned()).collect();
    assert_eq!(ids, have.keys().cloned().collect::<BTreeSet<_>>());

    // details and locations
    assert_eq!(
        find(&findings, "package-cache", "history/5").details["managers"],
        json!(["apk", "pip", "yum/dnf"])
    );
    assert_eq!(
        find(&findings, "package-cache", "history/4").details["managers"],
        json!(["apt"])
    );
    let ssh = find(&findings, "sensitive-port", "ExposedPorts/22/tcp");
    assert_eq!(ssh.details["service"], "ssh");
    assert_eq!(ssh.details["port"], 22);
    assert_eq!(ssh.locations[0].source, Source::Config);
    assert_eq!(
        find(&findings, "secret-env-name", "Env/DB_PASSWORD").severity,
        Severity::Low,
        "empty value"
    );
    assert_eq!(
        find(&findings, "secret-env-name", "Env/API_KEY").severity,
        Severity::Medium
    );
    let curl = find(&findings, "curl-pipe-shell", "history/6");
    assert_eq!(curl.locations[0].source, Source::History);
    assert_eq!(curl.locations[0].layer_index, Some(6));
    assert_eq!(curl.locations[0].created_by.as_deref(), Some(history[6]));
    assert_eq!(curl.details["step"], 6);
    let sudo = find(&findings, "sudo-installed", "/usr/bin/sudo");
    assert_eq!(sudo.locations[0].layer_index, Some(0));
    assert_eq!(sudo.details["mode"], "4755");
    assert_eq!(
        find(&findings, "add-instead-of-copy", "history/1").details["sources"],
        json!(["app.conf"])
    );
}

#[test]
fn no_rule_fires_on_a_good_image() {
    let work = tempfile::tempdir().expect("tempdir");
    let history = [
        "/bin/sh -c #(nop) ADD file:79011446d0489f38 in / ",
        "/bin/sh -c #(nop) COPY file:0b9c32985f8460ff in /etc/app.conf ",
        "ADD https://example.com/x.sh /x # buildkit",
        "ADD rootfs.tar.xz / # buildkit",
        "/bin/sh -c apt-get update && apt-get install -y --no-install-recommends --only-upgrade sudo curl && rm -rf /var/lib/apt/lists/*",
        "/bin/sh -c apk add --no-cache curl && pip install --no-cache-dir requests && dnf install -y x && dnf clean all",
        "RUN --mount=type=cache,target=/var/lib/apt /bin/sh -c apt-get install -y --no-install-recommends x # buildkit",
        "/bin/sh -c curl -fsSLo /tmp/x.tgz https://example.com/x.tgz && tar -xzf /tmp/x.tgz && echo no sudo here | cat",
        "/bin/sh -c #(nop)  USER 1000:1000",
    ];
    let config = json!({
        "User": "1000:1000",
        "Healthcheck": {"Test": ["CMD", "/bin/true"]},
        "Env": ["PATH=/bin", "DB_PASSWORD_FILE=/run/secrets/db", "TOKEN_URL=https://idp/token"],
        "ExposedPorts": {"8080/tcp": {}, "443/tcp": {}},
    });
    // sudo is installed in layer 0 and removed in layer 1
    let layers = vec![
        vec![dir("usr"), dir("usr/bin"), file("usr/bin/sudo", b"sudo")],
        vec![dir("usr/bin"), file("usr/bin/.wh.sudo", b"")],
    ];
    let path = image(work.path(), "good", config, &history, layers, true);
    let findings = run(&path);
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn root_user_and_healthcheck_variants() {
    let work = tempfile::tempdir().expect("tempdir");
    let history = ["/bin/sh -c true"];
    let cases = [
        (json!({}), true),
        (json!({"User": ""}), true),
        (json!({"User": "root"}), true),
        (json!({"User": "0"}), true),
        (json!({"User": "0:0"}), true),
        (json!({"User": "root:wheel"}), true),
        (json!({"User": "1000"}), false),
        (json!({"User": "app:app"}), false),
        (json!({"User": "65534:0"}), false),
    ];
    for (i, (config, root)) in cases.into_iter().enumerate() {
        let path = image(
            work.path(),
            &format!("u{i}"),
            config.clone(),
            &history,
            Vec::new(),
            true,
        );
        let have = places(&run(&path));
        assert_eq!(have.contains_key("root-user"), root, "{config}");
    }
    for (i, (healthcheck, missing)) in [
        (json!(null), true),
        (json!({"Test": ["NONE"]}), true),
        (
            json!({"Test": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]}),
            false,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let config = json!({"User": "1000", "Healthcheck": healthcheck});
        let path = image(
            work.path(),
            &format!("h{i}"),
            config,
            &history,
            Vec::new(),
            true,
        );
        let have = places(&run(&path));
        assert_eq!(
            have.contains_key("no-healthcheck"),
            missing,
            "{healthcheck}"
        );
    }
}

/// The committed demo image (no build needed): root, a token's name in ENV, no HEALTHCHECK.
#[test]
fn committed_example_image() {
    let path = rharden_testkit::fixtures_dir().join("example/leaky.oci.tar");
    let findings = run(&path);
    let have = places(&findings);
    let want: BTreeMap<String, BTreeSet<String>> = [
        ("root-user", set(&["User"])),
        ("no-healthcheck", set(&["Healthcheck"])),
        ("secret-env-name", set(&["Env/GITHUB_TOKEN"])),
        ("unpinned-reference", set(&["reference"])),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(have, want, "{findings:#?}");
}
