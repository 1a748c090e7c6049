//! Owners the image does not know: a file whose uid is not in the final `etc/passwd` (or gid
//! not in `etc/group`) belongs to whoever gets that id later (a user added by a later build, a
//! host user through a bind mount), usually a leftover of an archive unpacked as is.

use std::collections::BTreeSet;

use rharden_image::{EntryKind, Fate, FileRecord};

use crate::analysis::{display_path, Context};
use crate::finding::{Finding, Location, Severity, Source, Status};

use super::accounts::{AccountsSink, Database};

/// The ids a database of the final filesystem knows, or why they cannot be read.
enum Known {
    Ids(BTreeSet<u64>),
    /// The final filesystem has no such file (it may have existed in a layer).
    Missing(Option<&'static str>),
    /// It is there, but not as a regular file whose content the walk kept.
    Unreadable(&'static str),
}

/// The final record at `path`, if the final filesystem has one.
fn final_record<'a>(ctx: &Context<'a>, path: &[u8]) -> Option<&'a FileRecord> {
    ctx.files
        .layers
        .iter()
        .flatten()
        .find(|r| &*r.path == path && r.fate == Fate::Present && !r.kind.is_whiteout())
}

fn known(ctx: &Context<'_>, sinks: &[&AccountsSink], db: Database) -> Known {
    let Some(record) = final_record(ctx, db.path()) else {
        let existed = ctx
            .files
            .history_of(db.path())
            .last()
            .map(|r| r.fate.name());
        return Known::Missing(existed);
    };
    // A hardlink shares the content of the record it links to, which the sink of that
    // record's layer kept if it is the same database file.
    let layer = match (record.kind, record.link_root()) {
        (EntryKind::File, _) => record.layer(),
        (EntryKind::Hardlink, Some((l, p)))
            if ctx
                .files
                .layers
                .get(l)
                .and_then(|layer| layer.get(p))
                .is_some_and(|root| &*root.path == db.path()) =>
        {
            l
        }
        _ => return Known::Unreadable("it is not a regular file"),
    };
    match sinks.get(layer).and_then(|s| s.captured(db)) {
        Some(captured) => {
            let mut ids = captured.ids();
            // root is root, whatever the database says.
            ids.insert(0);
            Known::Ids(ids)
        }
        None => Known::Unreadable("its content was not captured during the walk"),
    }
}

pub(super) fn findings(ctx: &Context<'_>, sinks: &[&AccountsSink]) -> Vec<Finding> {
    let uids = known(ctx, sinks, Database::Passwd);
    let gids = known(ctx, sinks, Database::Group);
    let mut out = Vec::new();
    for (db, k) in [(Database::Passwd, &uids), (Database::Group, &gids)] {
        let name = display_path(db.path());
        let why = match k {
            Known::Ids(_) => continue,
            Known::Missing(None) => format!("the image has no {name}"),
            Known::Missing(Some(fate)) => format!("{name} was {fate} by a later layer"),
            Known::Unreadable(why) => format!("{name} cannot be read: {why}"),
        };
        let what = if db == Database::Passwd {
            "user"
        } else {
            "group"
        };
        let mut f = Finding::new(
            "accounts-missing",
            "permissions",
            Severity::Info,
            format!("file {what} owners not checked: {why}"),
            db.path(),
        )
        .detail("database", name.clone())
        .detail("reason", why);
        f.locations.push(Location {
            source: Source::Layer,
            layer_index: None,
            layer_digest: None,
            created_by: None,
            path: name,
            line: None,
            status: Status::Deleted,
            removed_in_layer: None,
            removed_by: None,
        });
        f.fix = Some(format!(
            "Nothing to fix for a scratch or distroless image; otherwise ship {} so that owners resolve.",
            display_path(db.path())
        ));
        out.push(f);
    }
    let (uids, gids) = match (&uids, &gids) {
        (Known::Ids(u), Known::Ids(g)) => (Some(u), Some(g)),
        (Known::Ids(u), _) => (Some(u), None),
        (_, Known::Ids(g)) => (None, Some(g)),
        _ => return out,
    };
    for record in ctx.files.final_view() {
        let bad_uid = uids.is_some_and(|k| !k.contains(&record.uid));
        let bad_gid = gids.is_some_and(|k| !k.contains(&record.gid));
        if !bad_uid && !bad_gid {
            continue;
        }
        let path = display_path(&record.path);
        let mut unknown = Vec::new();
        let mut what = Vec::new();
        if bad_uid {
            unknown.push("uid");
            what.push(format!("uid {}", record.uid));
        }
        if bad_gid {
            unknown.push("gid");
            what.push(format!("gid {}", record.gid));
        }
        let mut f = Finding::new(
            "unknown-owner",
            "permissions",
            Severity::Low,
            format!(
                "owned by {}, unknown to the image's accounts",
                what.join(" and ")
            ),
            &record.path,
        )
        .detail("mode", super::octal_mode(record.mode))
        .detail("uid", record.uid)
        .detail("gid", record.gid)
        .detail("status", record.fate.name())
        .detail("kind", record.kind.name())
        .detail("unknown", unknown);
        f.locations.push(ctx.location(record));
        f.fix = Some(format!(
            "`chown root:root {path}` (or a user the image defines) in the step that creates it, \
             e.g. `COPY --chown=…` or `tar --no-same-owner`."
        ));
        out.push(f);
    }
    out
}
