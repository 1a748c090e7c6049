//! A progress bar on stderr while layers are read, only when stderr is a terminal (never in CI
//! logs or pipes).

use std::io::IsTerminal;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rharden_image::{Image, LayerInfo, Progress};

struct Bar(ProgressBar);

impl Progress for Bar {
    fn start(&self, total: u64) {
        self.0.reset();
        self.0.set_length(total);
        self.0.set_position(0);
    }
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
    fn layer_done(&self, _layer: &LayerInfo) {}
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// Attaches a progress bar to `image` when stderr is a terminal.
pub fn attach(image: &mut Image, what: &str) {
    if !std::io::stderr().is_terminal() {
        return;
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(what.to_owned());
    image.set_progress(Arc::new(Bar(bar)));
}
