#!/usr/bin/env bash
# Prints the path of the release binary `cargo build --release -p rharden` writes:
# TARGET_DIR/<host triple>/release/rharden (.cargo/config.toml names the host as the build
# target). TARGET_DIR is $1, else $CARGO_TARGET_DIR, else target/ of the repository.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
triple=$(rustc -vV | sed -n 's/^host: //p')
[ -n "$triple" ] || { echo "rharden_path.sh: rustc -vV printed no host triple" >&2; exit 1; }
echo "${1:-${CARGO_TARGET_DIR:-$repo/target}}/$triple/release/rharden"
