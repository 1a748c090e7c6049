//! The secrets analyzer on real images (every form) and on generated ones.

// Tests say on stderr what they skipped and how much they checked.
#![allow(clippy::print_stderr)]

mod bloat;
mod elf;
mod hygiene;
mod privilege;
mod real;
mod rules;
