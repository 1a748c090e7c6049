//! `gen-hostile DIR [OUTSIDE]`: writes the hostile-input corpus (`rharden_testkit::hostile`) to
//! `DIR/<case>/`, one image per case, and `DIR/cases.tsv` (name, expectation, image path,
//! what it covers), so fuzzers and other tools can seed from it. Symlinks in some images point
//! at OUTSIDE (default `/tmp/rharden-hostile-outside`), which an unsafe extractor would write to.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use rharden_testkit::hostile::{corpus, Expect, Place};

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(dir) = args.next().map(PathBuf::from) else {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("usage: gen-hostile DIR [OUTSIDE]");
        }
        return ExitCode::from(2);
    };
    let outside = args.next().map_or_else(
        || PathBuf::from("/tmp/rharden-hostile-outside"),
        PathBuf::from,
    );
    let mut index = String::from("name\texpect\timage\tabout\n");
    for case in corpus() {
        let case_dir = dir.join(case.name);
        if let Err(e) = std::fs::create_dir_all(&case_dir) {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("error: failed to create {}: {e}", case_dir.display());
            }
            return ExitCode::from(2);
        }
        let image = (case.write)(Place {
            dir: &case_dir,
            outside: &outside,
        });
        let expect = match case.expect {
            Expect::Rejected { .. } => "rejected",
            Expect::Unmergeable { .. } => "unmergeable",
            Expect::Legal { .. } => "legal",
        };
        let shown = image
            .strip_prefix(&dir)
            .unwrap_or(&image)
            .display()
            .to_string();
        let _ = writeln!(index, "{}\t{expect}\t{shown}\t{}", case.name, case.about);
    }
    if let Err(e) = std::fs::write(dir.join("cases.tsv"), index) {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("error: failed to write cases.tsv: {e}");
        }
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}
