//! The privilege analyzer on real images (the caps recipe in every form, the Debian base image,
//! the other recipes) and on generated ones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rharden_image::{Image, OpenOptions};
use rharden_scan::analysis::Context;
use rharden_scan::privilege::{self, AccountsSink};
use rharden_scan::{Finding, Severity, Status};
use rharden_testkit::{dir, file, symlink, typed, ImageSpec};

/// Opens and walks `path`, and runs the privilege analyzer.
fn run(path: &Path) -> Vec<Finding> {
    let image = Image::open(path, &OpenOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let walk = image
        .walk(|_| AccountsSink::new())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let ctx = Context {
        image: &image,
        layers: &walk.layers,
        files: &walk.files,
    };
    let sinks: Vec<&AccountsSink> = walk.sinks.iter().collect();
    privilege::findings(&ctx, &sinks)
}

/// rule id → path → finding (one finding per rule and path).
fn by_rule(findings: &[Finding]) -> BTreeMap<&str, BTreeMap<String, &Finding>> {
    let mut out: BTreeMap<&str, BTreeMap<String, &Finding>> = BTreeMap::new();
    for f in findings {
        let path = f.locations[0].path.clone();
        let old = out.entry(f.rule_id.as_str()).or_default().insert(path, f);
        assert!(
            old.is_none(),
            "two {} findings for one path: {f:?}",
            f.rule_id
        );
    }
    out
}

fn paths(map: &BTreeMap<&str, BTreeMap<String, &Finding>>, rule: &str) -> Vec<String> {
    map.get(rule)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// Every form of recipe `name` in the real fixtures, or `None` (skipped) without them.
fn forms(name: &str) -> Option<Vec<PathBuf>> {
    let real = rharden_testkit::real_fixtures()?;
    let mut forms: Vec<PathBuf> = std::fs::read_dir(&real)
        .expect("real")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{name}.")))
        })
        .collect();
    forms.sort();
    assert!(forms.len() >= 6, "{name}: only {} forms", forms.len());
    Some(forms)
}

#[test]
fn caps_image_in_every_form() {
    let Some(forms) = forms("caps") else {
        eprintln!("skipped: no real fixtures");
        return;
    };
    for form in &forms {
        let name = form.display();
        let findings = run(form);
        let map = by_rule(&findings);

        // setuid: whoami (present, root, high), suid-fixed (chmod u-s in layer 3), suid-removed
        // (deleted in layer 4): reported with their status, at info.
        assert_eq!(
            paths(&map, "setuid"),
            [
                "/usr/local/bin/suid-fixed",
                "/usr/local/bin/suid-removed",
                "/usr/local/bin/whoami"
            ],
            "{name}"
        );
        let whoami = map["setuid"]["/usr/local/bin/whoami"];
        assert_eq!(whoami.severity, Severity::High, "{name}");
        assert_eq!(whoami.category, "setuid");
        assert_eq!(whoami.details["mode"], "4755", "{name}");
        assert_eq!(whoami.details["uid"], 0);
        assert_eq!(whoami.details["gid"], 0);
        assert_eq!(whoami.details["status"], "present");
        assert!(whoami
            .fix
            .as_deref()
            .is_some_and(|f| f.contains("chmod u-s")));
        let loc = &whoami.locations[0];
        assert_eq!(
            (loc.layer_index, loc.status, loc.removed_in_layer),
            (Some(2), Status::Present, None),
            "{name}"
        );
        assert!(loc
            .created_by
            .as_deref()
            .is_some_and(|c| c.contains("install -m 4755 busybox /usr/local/bin/whoami")));

        let fixed = map["setuid"]["/usr/local/bin/suid-fixed"];
        assert_eq!(fixed.severity, Severity::Info, "{name}");
        assert_eq!(fixed.details["status"], "overwritten");
        assert_eq!(fixed.locations.len(), 1);
        let loc = &fixed.locations[0];
        assert_eq!(
            (loc.layer_index, loc.status, loc.removed_in_layer),
            (Some(2), Status::Overwritten, Some(3)),
            "{name}"
        );
        assert_eq!(
            loc.removed_by.as_deref(),
            Some("chmod u-s /usr/local/bin/suid-fixed")
        );

        let removed = map["setuid"]["/usr/local/bin/suid-removed"];
        assert_eq!(removed.severity, Severity::Info, "{name}");
        assert_eq!(removed.details["mode"], "4755");
        let loc = &removed.locations[0];
        assert_eq!(
            (loc.layer_index, loc.status, loc.removed_in_layer),
            (Some(2), Status::Deleted, Some(4)),
            "{name}"
        );
        assert_eq!(
            loc.removed_by.as_deref(),
            Some("rm /usr/local/bin/suid-removed")
        );

        // setgid id
        assert_eq!(paths(&map, "setgid"), ["/usr/local/bin/id"], "{name}");
        let id = map["setgid"]["/usr/local/bin/id"];
        assert_eq!(id.severity, Severity::Medium);
        assert_eq!(id.category, "setgid");
        assert_eq!(id.details["mode"], "2755");
        assert_eq!(id.locations[0].status, Status::Present);

        // the capability on ping
        assert_eq!(
            paths(&map, "file-capability"),
            ["/usr/local/bin/ping"],
            "{name}"
        );
        let ping = map["file-capability"]["/usr/local/bin/ping"];
        assert_eq!(ping.category, "capability");
        assert_eq!(
            ping.severity,
            Severity::Medium,
            "cap_net_raw is not on the dangerous list"
        );
        assert_eq!(ping.details["text"], "cap_net_raw+ep", "{name}");
        assert_eq!(
            ping.details["capabilities"],
            serde_json::json!(["cap_net_raw"])
        );
        assert_eq!(ping.details["mode"], "0755");
        assert_eq!(ping.locations[0].layer_index, Some(1));
        assert!(ping.locations[0]
            .created_by
            .as_deref()
            .is_some_and(|c| c.contains("setcap")));

        // world-writable: the file and the dir without sticky bit; /tmp (1777) is fine
        assert_eq!(
            paths(&map, "world-writable"),
            ["/usr/local/share/drop", "/usr/local/share/world-writable"],
            "{name}"
        );
        assert_eq!(
            map["world-writable"]["/usr/local/share/drop"].details["mode"],
            "0777"
        );
        assert_eq!(
            map["world-writable"]["/usr/local/share/world-writable"].severity,
            Severity::Medium
        );

        // the orphan owned by 4242:4242, which etc/passwd and etc/group do not know
        assert_eq!(
            paths(&map, "unknown-owner"),
            ["/usr/local/share/orphan"],
            "{name}"
        );
        let orphan = map["unknown-owner"]["/usr/local/share/orphan"];
        assert_eq!(orphan.severity, Severity::Low);
        assert_eq!(orphan.details["uid"], 4242);
        assert_eq!(orphan.details["unknown"], serde_json::json!(["uid", "gid"]));
        assert!(paths(&map, "accounts-missing").is_empty(), "{name}");
        assert!(findings.iter().all(|f| f.fix.is_some()));
    }
    eprintln!("checked {} forms of caps", forms.len());
}

#[test]
fn debian_base_has_exactly_its_known_setuid_and_setgid_binaries() {
    let Some(forms) = forms("debian") else {
        eprintln!("skipped: no real fixtures");
        return;
    };
    // One form is enough for the exact sets (the reader test checks every form's entries);
    // the compressed-as-a-whole one takes the stream path.
    for form in forms
        .iter()
        .filter(|f| f.ends_with("debian.oci.tar") || f.ends_with("debian.docker.tar.gz"))
    {
        let name = form.display();
        let findings = run(form);
        let map = by_rule(&findings);
        let setuid: Vec<String> = [
            "chfn", "chsh", "gpasswd", "mount", "newgrp", "passwd", "su", "umount",
        ]
        .iter()
        .map(|b| format!("/usr/bin/{b}"))
        .collect();
        assert_eq!(paths(&map, "setuid"), setuid, "{name}");
        assert_eq!(
            paths(&map, "setgid"),
            ["/usr/bin/chage", "/usr/bin/expiry", "/usr/sbin/unix_chkpwd"],
            "{name}"
        );
        for f in map["setuid"].values() {
            // Setuid-root programs a distribution ships are one severity below ones a build
            // step adds (the caps image's /usr/local/bin/whoami is high).
            assert_eq!(f.severity, Severity::Medium, "{name}: {f:?}");
            assert_eq!(f.details["uid"], 0);
            assert_eq!(f.locations[0].status, Status::Present);
        }
        for f in map["setgid"].values() {
            assert_eq!(f.details["gid"], 42, "{name}: shadow");
            assert_eq!(f.details["mode"], "2755");
        }
        assert_eq!(map["setuid"]["/usr/bin/su"].details["mode"], "4755");
        for rule in [
            "file-capability",
            "world-writable",
            "unknown-owner",
            "accounts-missing",
        ] {
            assert!(
                paths(&map, rule).is_empty(),
                "{name}: {rule}: {:?}",
                map.get(rule)
            );
        }
    }
}

#[test]
fn other_recipes() {
    let Some(real) = rharden_testkit::real_fixtures() else {
        eprintln!("skipped: no real fixtures");
        return;
    };
    // base: nothing at all.
    assert!(run(&real.join("base.oci.tar")).is_empty());
    // elf: FROM scratch, no accounts: said once per database.
    let elf = run(&real.join("elf.oci.tar"));
    let map = by_rule(&elf);
    assert_eq!(
        paths(&map, "accounts-missing"),
        ["/etc/group", "/etc/passwd"]
    );
    assert_eq!(elf.len(), 2, "{elf:#?}");
    // fates: a setuid and a setgid script and a world-writable file, in layer 6.
    for form in ["fates.docker.tar", "fates.oci-dir"] {
        let map_owned = run(&real.join(form));
        let map = by_rule(&map_owned);
        assert_eq!(paths(&map, "setuid"), ["/usr/local/bin/suid-tool"]);
        assert_eq!(paths(&map, "setgid"), ["/usr/local/bin/sgid-tool"]);
        assert_eq!(paths(&map, "world-writable"), ["/srv/world-writable"]);
        assert_eq!(
            map["setuid"]["/usr/local/bin/suid-tool"].locations[0].layer_index,
            Some(6)
        );
    }
}

/// A generated image: every rule, positive and negative, with layer-level fates.
#[test]
fn generated_image_covers_every_rule() {
    let work = tempfile::tempdir().expect("tempdir");
    let cap = |magic: [u8; 4], permitted: u32, extra: &[u8]| {
        let mut v = magic.to_vec();
        v.extend_from_slice(&permitted.to_le_bytes());
        v.extend_from_slice(&[0; 12]);
        v.extend_from_slice(extra);
        v
    };
    let mut orphan = file("srv/orphan", b"x");
    orphan.uid = 777;
    let mut stray = file("srv/stray", b"s");
    stray.uid = 555;
    let spec = ImageSpec::new(vec![
        vec![
            dir("etc"),
            file(
                "etc/passwd",
                b"root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\n",
            ),
            file("etc/group", b"root:x:0:\n"),
            dir("tmp").mode(0o1777),
            dir("srv").mode(0o777),
            dir("bin"),
            file("bin/suid", b"#!").mode(0o4755),
            file("bin/suid-later-kept", b"#!").mode(0o4755),
            file("bin/sgid", b"#!").mode(0o2755),
            dir("var").mode(0o2775),
            symlink("bin/link", "suid").mode(0o777),
            typed("dev-null", b'3').mode(0o666),
            file("bin/admin", b"#!").pax(
                "SCHILY.xattr.security.capability",
                &cap([0, 0, 0, 2], 1 << 21, &[]),
            ),
            file("bin/v3", b"#!").pax(
                "SCHILY.xattr.security.capability",
                &cap([1, 0, 0, 3], 1 << 10, &1000u32.to_le_bytes()),
            ),
            file("bin/broken", b"#!").pax("SCHILY.xattr.security.capability", b"\x01\x02\x03"),
            file("srv/ww", b"w").mode(0o666),
            orphan,
            stray,
        ],
        vec![
            dir("bin"),
            file("bin/suid", b"#!").mode(0o755),
            file("bin/suid-later-kept", b"#!2").mode(0o4750),
            file("bin/.wh.sgid", b""),
            file(
                "etc/passwd",
                b"root:x:0:0::/root:/bin/sh\nsvc:x:777:0::/:/bin/sh\n",
            ),
        ],
    ]);
    let path = spec.write(work.path(), rharden_testkit::Form::OciTar);
    let findings = run(&path);
    let map = by_rule(&findings);
    assert_eq!(paths(&map, "setuid"), ["/bin/suid", "/bin/suid-later-kept"]);
    let kept = map["setuid"]["/bin/suid-later-kept"];
    assert_eq!(kept.locations.len(), 2, "both layers wrote it setuid");
    assert_eq!(kept.severity, Severity::High);
    assert_eq!(kept.details["mode"], "4750", "the final one's mode");
    assert_eq!(map["setuid"]["/bin/suid"].severity, Severity::Info);
    assert_eq!(map["setgid"]["/bin/sgid"].severity, Severity::Info);
    assert_eq!(map["setgid"]["/bin/sgid"].details["status"], "deleted");
    assert_eq!(
        paths(&map, "setgid"),
        ["/bin/sgid"],
        "not the setgid dir /var"
    );

    let admin = map["file-capability"]["/bin/admin"];
    assert_eq!(admin.severity, Severity::High);
    assert_eq!(admin.details["text"], "cap_sys_admin+p");
    let v3 = map["file-capability"]["/bin/v3"];
    assert_eq!(v3.details["text"], "cap_net_bind_service+ep");
    assert_eq!(v3.details["rootid"], 1000);
    assert_eq!(v3.severity, Severity::Medium);
    let broken = map["file-capability"]["/bin/broken"];
    assert!(broken.details["undecodable"]
        .as_str()
        .is_some_and(|s| s.contains("3 bytes")));
    assert_eq!(broken.details["raw"], "010203");

    assert_eq!(paths(&map, "world-writable"), ["/srv", "/srv/ww"]);
    // passwd comes from layer 1, which knows uid 777 (the orphan) but not 555 (the stray).
    assert_eq!(paths(&map, "unknown-owner"), ["/srv/stray"]);
    let stray = map["unknown-owner"]["/srv/stray"];
    assert_eq!(stray.details["unknown"], serde_json::json!(["uid"]));
    assert_eq!(stray.details["uid"], 555);
}

/// Owners are checked against the final account databases, wherever they come from, and the
/// report says when a database is missing.
#[test]
fn accounts_edge_cases() {
    let work = tempfile::tempdir().expect("tempdir");
    let owned = |name: &str, uid: u64| {
        let mut f = file(name, b"x");
        f.uid = uid;
        f
    };
    let passwd = b"root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\n";
    let write = |name: &str, layers: Vec<Vec<rharden_testkit::TarEntry>>| {
        let dir = work.path().join(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        ImageSpec::new(layers).write(&dir, rharden_testkit::Form::DockerArchive)
    };

    // No etc/group: uids are still checked, gids are said not to be.
    let findings = run(&write(
        "no-group",
        vec![vec![
            file("etc/passwd", passwd),
            owned("known", 1000),
            owned("unknown", 5),
        ]],
    ));
    let map = by_rule(&findings);
    assert_eq!(paths(&map, "accounts-missing"), ["/etc/group"]);
    assert_eq!(paths(&map, "unknown-owner"), ["/unknown"]);
    assert_eq!(
        map["accounts-missing"]["/etc/group"].details["reason"],
        "the image has no /etc/group"
    );

    // etc/passwd deleted by a later layer.
    let findings = run(&write(
        "deleted",
        vec![
            vec![
                file("etc/passwd", passwd),
                file("etc/group", b"root:x:0:\n"),
                owned("a", 1000),
            ],
            vec![file("etc/.wh.passwd", b"")],
        ],
    ));
    let map = by_rule(&findings);
    assert_eq!(paths(&map, "accounts-missing"), ["/etc/passwd"]);
    assert_eq!(
        map["accounts-missing"]["/etc/passwd"].details["reason"],
        "/etc/passwd was deleted by a later layer"
    );
    assert!(paths(&map, "unknown-owner").is_empty());

    // etc/passwd replaced by a hardlink to the lower layer's: read through the link.
    let findings = run(&write(
        "hardlink",
        vec![
            vec![
                file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n"),
                file("etc/group", b"root:x:0:\n"),
            ],
            vec![
                rharden_testkit::hardlink("etc/passwd", "etc/passwd"),
                owned("b", 1000),
            ],
        ],
    ));
    let map = by_rule(&findings);
    assert!(paths(&map, "accounts-missing").is_empty(), "{findings:#?}");
    assert_eq!(paths(&map, "unknown-owner"), ["/b"]);
}

/// The committed demo image (no build needed): its setuid shell script, layer 8.
#[test]
fn committed_example_image() {
    let path = rharden_testkit::fixtures_dir().join("example/leaky.oci.tar");
    let findings = run(&path);
    let map = by_rule(&findings);
    assert_eq!(paths(&map, "setuid"), ["/usr/local/bin/suid-helper"]);
    let helper = map["setuid"]["/usr/local/bin/suid-helper"];
    assert_eq!(helper.severity, Severity::High);
    assert_eq!(helper.details["mode"], "4755");
    assert_eq!(helper.locations[0].layer_index, Some(8));
    assert!(helper.locations[0]
        .created_by
        .as_deref()
        .is_some_and(|c| c.contains("chmod 4755 /usr/local/bin/suid-helper")));
    for rule in [
        "setgid",
        "file-capability",
        "world-writable",
        "unknown-owner",
    ] {
        assert!(paths(&map, rule).is_empty(), "{rule}: {findings:#?}");
    }
}
