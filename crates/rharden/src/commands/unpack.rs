//! `rharden unpack`: the merged root filesystem, written only below DIR.

use rharden_image::Image;

use crate::args::UnpackArgs;
use crate::error::CliError;
use crate::exit::Status;
use crate::printer::{emit, human_bytes};

pub fn execute(args: UnpackArgs) -> Result<Status, CliError> {
    let what = || {
        format!(
            "unpack {} into {}",
            args.image.display(),
            args.dir.display()
        )
    };
    let mut image = Image::open(&args.image, &super::open_options(&args.selection))
        .map_err(|e| CliError::new(what(), e))?;
    crate::progress::attach(&mut image, "unpacking");
    let report =
        rharden_flatten::unpack(&image, &args.dir).map_err(|e| CliError::new(what(), e))?;
    let text = if args.json {
        let mut s =
            serde_json::to_string_pretty(&report).map_err(|e| CliError::new("write JSON", e))?;
        s.push('\n');
        s
    } else {
        let mut text = format!(
            "wrote     {} ({} entries, {} files, {})\n",
            report.dir.display(),
            report.entries,
            report.files,
            human_bytes(report.bytes)
        );
        for note in &report.notes {
            text.push_str(&format!(
                "note      {} not restored on {} entries (e.g. {}): {}\n",
                note.what, note.count, note.example, note.reason
            ));
        }
        text
    };
    emit(&text).map_err(|e| CliError::new("write to stdout", e))?;
    Ok(Status::Success)
}
