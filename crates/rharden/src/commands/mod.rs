//! One module per subcommand; each resolves its args into library options and renders the result.

pub mod doctor;
pub mod flatten;
pub mod inspect;
pub mod run;
mod run_image;
pub mod scan;
pub mod unpack;

use rharden_image::{OpenOptions, Selector};

use crate::args::{Command, ImageSelection};
use crate::error::CliError;
use crate::exit::Status;

pub fn dispatch(command: Command) -> Result<Status, CliError> {
    match command {
        Command::Scan(args) => scan::execute(args),
        Command::Inspect(args) => inspect::execute(args),
        Command::Flatten(args) => flatten::execute(args),
        Command::Unpack(args) => unpack::execute(args),
        Command::Run(args) => run::execute(*args),
        Command::Doctor(args) => doctor::execute(args),
    }
}

/// Library options for opening an image, from the shared selection flags.
pub fn open_options(selection: &ImageSelection) -> OpenOptions {
    OpenOptions {
        selector: Selector {
            reference: selection.reference.clone(),
            platform: selection.platform.clone(),
        },
        ..OpenOptions::default()
    }
}
