//! Which files of the final filesystem are package-manager leftovers, and which belong to a
//! build toolchain. Pure functions of the path (layer paths: no leading `/`).

/// A package manager's cache or download area that a build leaves behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Leftover {
    AptLists,
    AptArchives,
    Pip,
    Npm,
    Yarn,
    Go,
    Cargo,
    Maven,
    Apk,
    Tmp,
}

impl Leftover {
    pub const ALL: [Self; 10] = [
        Self::AptLists,
        Self::AptArchives,
        Self::Pip,
        Self::Npm,
        Self::Yarn,
        Self::Go,
        Self::Cargo,
        Self::Maven,
        Self::Apk,
        Self::Tmp,
    ];

    /// The name in rule ids, details and the summary.
    pub fn name(self) -> &'static str {
        match self {
            Self::AptLists => "apt-lists",
            Self::AptArchives => "apt-archives",
            Self::Pip => "pip-cache",
            Self::Npm => "npm-cache",
            Self::Yarn => "yarn-cache",
            Self::Go => "go-cache",
            Self::Cargo => "cargo-registry",
            Self::Maven => "maven-repository",
            Self::Apk => "apk-cache",
            Self::Tmp => "tmp",
        }
    }

    /// What it is, in a title.
    pub fn label(self) -> &'static str {
        match self {
            Self::AptLists => "apt package lists",
            Self::AptArchives => "apt package archives",
            Self::Pip => "pip cache",
            Self::Npm => "npm cache",
            Self::Yarn => "yarn cache",
            Self::Go => "Go module and build caches",
            Self::Cargo => "cargo registry",
            Self::Maven => "Maven repository",
            Self::Apk => "apk cache",
            Self::Tmp => "temporary files",
        }
    }

    /// What to do about it, in the RUN that made it.
    pub fn remedy(self) -> &'static str {
        match self {
            Self::AptLists => "run `rm -rf /var/lib/apt/lists/*` in the same RUN as `apt-get install`",
            Self::AptArchives => "run `apt-get clean` in the same RUN as `apt-get install`",
            Self::Pip => "use `pip install --no-cache-dir` (or a cache mount)",
            Self::Npm => "run `npm cache clean --force` in the same RUN, or use a cache mount",
            Self::Yarn => "run `yarn cache clean` in the same RUN, or use a cache mount",
            Self::Go => "build in a separate stage (multi-stage build) or use a cache mount for the module and build caches",
            Self::Cargo => "build in a separate stage (multi-stage build) or use a cache mount for the registry",
            Self::Maven => "build in a separate stage (multi-stage build) or use a cache mount for ~/.m2",
            Self::Apk => "use `apk add --no-cache`",
            Self::Tmp => "remove temporary files in the RUN that creates them",
        }
    }

    /// The kind of leftover at `path`, if any.
    pub fn of(path: &[u8]) -> Option<Self> {
        if path.starts_with(b"var/lib/apt/lists/") {
            return Some(Self::AptLists);
        }
        if (path.starts_with(b"var/cache/apt/archives/") && path.ends_with(b".deb"))
            || (path.starts_with(b"var/cache/apt/")
                && path.ends_with(b".bin")
                && !path[b"var/cache/apt/".len()..].contains(&b'/'))
        {
            return Some(Self::AptArchives);
        }
        if path.starts_with(b"var/cache/apk/") {
            return Some(Self::Apk);
        }
        if path.starts_with(b"usr/local/share/.cache/yarn/") {
            return Some(Self::Yarn);
        }
        if path.starts_with(b"tmp/") || path.starts_with(b"var/tmp/") {
            return Some(Self::Tmp);
        }
        let rest = home_relative(path)?;
        let table: [(&[u8], Self); 8] = [
            (b".cache/pip/", Self::Pip),
            (b".npm/", Self::Npm),
            (b".cache/yarn/", Self::Yarn),
            (b"go/pkg/mod/", Self::Go),
            (b".cache/go-build/", Self::Go),
            (b".cargo/registry/", Self::Cargo),
            (b".m2/repository/", Self::Maven),
            (b".cache/apk/", Self::Apk),
        ];
        table
            .iter()
            .find(|(prefix, _)| rest.starts_with(prefix))
            .map(|(_, kind)| *kind)
    }
}

/// The part of `path` below a home directory (`root/…` or `home/<user>/…`).
fn home_relative(path: &[u8]) -> Option<&[u8]> {
    if let Some(rest) = path.strip_prefix(b"root/") {
        return Some(rest);
    }
    let rest = path.strip_prefix(b"home/")?;
    let slash = rest.iter().position(|&b| b == b'/')?;
    Some(&rest[slash + 1..])
}

/// A build toolchain, or a package manager, found in the final filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Toolchain {
    Gcc,
    Clang,
    Rust,
    Go,
    Jdk,
    /// C headers (`usr/include`, `usr/local/include`).
    Headers,
    /// pip, npm: fine in an image that runs Python or Node, often not needed at run time.
    Pip,
    Npm,
}

impl Toolchain {
    pub fn name(self) -> &'static str {
        match self {
            Self::Gcc => "gcc",
            Self::Clang => "clang",
            Self::Rust => "rust",
            Self::Go => "go",
            Self::Jdk => "jdk",
            Self::Headers => "headers",
            Self::Pip => "pip",
            Self::Npm => "npm",
        }
    }

    /// Whether this is a package manager (reported as info), not a compiler or headers.
    pub fn is_package_manager(self) -> bool {
        matches!(self, Self::Pip | Self::Npm)
    }

    /// The toolchain `path` belongs to, if any.
    pub fn of(path: &[u8]) -> Option<Self> {
        let (dir, name) = match path.iter().rposition(|&b| b == b'/') {
            Some(i) => (&path[..i], &path[i + 1..]),
            None => (&b""[..], path),
        };
        let in_bin = dir.ends_with(b"bin");
        let starts = |p: &[u8]| path.starts_with(p);
        if starts(b"usr/lib/gcc/")
            || starts(b"usr/libexec/gcc/")
            || name == b"cc1"
            || name == b"cc1plus"
            || (in_bin && is_gcc_driver(name))
        {
            return Some(Self::Gcc);
        }
        if (starts(b"usr/lib/llvm-") && path.contains_subslice(b"/bin/"))
            || (in_bin && name.starts_with(b"clang"))
        {
            return Some(Self::Clang);
        }
        if starts(b"usr/local/rustup/toolchains/")
            || home_relative(path).is_some_and(|r| r.starts_with(b".rustup/toolchains/"))
            || (in_bin && (name == b"rustc" || name == b"cargo"))
        {
            return Some(Self::Rust);
        }
        if starts(b"usr/local/go/") || starts(b"usr/lib/go-") || (in_bin && name == b"go") {
            return Some(Self::Go);
        }
        if (in_bin && name == b"javac") || path.contains_subslice(b"/jmods/") {
            return Some(Self::Jdk);
        }
        if starts(b"usr/include/") || starts(b"usr/local/include/") {
            return Some(Self::Headers);
        }
        if (in_bin
            && (name.starts_with(b"pip")
                && name[3..].iter().all(|b| b.is_ascii_digit() || *b == b'.')))
            || path.contains_subslice(b"/site-packages/pip/")
            || path.contains_subslice(b"/dist-packages/pip/")
        {
            return Some(Self::Pip);
        }
        if path.contains_subslice(b"lib/node_modules/npm/") {
            return Some(Self::Npm);
        }
        None
    }
}

/// `gcc`, `gcc-12`, `g++`, `x86_64-linux-gnu-gcc-12`, `c++`, `cc` (not `gcc-ar`-like helpers'
/// lookalikes from other tools: those live in the same package anyway).
fn is_gcc_driver(name: &[u8]) -> bool {
    let base = match name.iter().rposition(|&b| b == b'-') {
        // `gcc-12` -> `gcc`; `x86_64-linux-gnu-gcc` stays (checked by suffix below)
        Some(i) if name[i + 1..].iter().all(u8::is_ascii_digit) && i + 1 < name.len() => &name[..i],
        _ => name,
    };
    matches!(base, b"gcc" | b"g++" | b"cc" | b"c++")
        || base.ends_with(b"-gcc")
        || base.ends_with(b"-g++")
}

/// `contains` for byte strings.
trait ContainsSubslice {
    fn contains_subslice(&self, needle: &[u8]) -> bool;
}

impl ContainsSubslice for [u8] {
    fn contains_subslice(&self, needle: &[u8]) -> bool {
        self.windows(needle.len()).any(|w| w == needle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftovers_by_path() {
        let cases: [(&str, Option<Leftover>); 14] = [
            ("var/lib/apt/lists/deb_Packages", Some(Leftover::AptLists)),
            (
                "var/cache/apt/archives/x_1_amd64.deb",
                Some(Leftover::AptArchives),
            ),
            ("var/cache/apt/pkgcache.bin", Some(Leftover::AptArchives)),
            ("var/cache/apt/archives/lock", None),
            ("root/.cache/pip/http/a/b", Some(Leftover::Pip)),
            ("home/app/.cache/pip/wheels/x", Some(Leftover::Pip)),
            ("root/.npm/_cacache/x", Some(Leftover::Npm)),
            ("usr/local/share/.cache/yarn/v6/x", Some(Leftover::Yarn)),
            ("root/go/pkg/mod/cache/x", Some(Leftover::Go)),
            ("root/.cargo/registry/cache/x.crate", Some(Leftover::Cargo)),
            ("root/.m2/repository/org/x.jar", Some(Leftover::Maven)),
            ("var/cache/apk/APKINDEX.tar.gz", Some(Leftover::Apk)),
            ("var/tmp/x", Some(Leftover::Tmp)),
            ("usr/share/doc/pip/README", None),
        ];
        for (path, want) in cases {
            assert_eq!(Leftover::of(path.as_bytes()), want, "{path}");
        }
    }

    #[test]
    fn toolchains_by_path() {
        let cases: [(&str, Option<Toolchain>); 14] = [
            ("usr/bin/gcc-12", Some(Toolchain::Gcc)),
            ("usr/bin/x86_64-linux-gnu-gcc-12", Some(Toolchain::Gcc)),
            ("usr/lib/gcc/x86_64-linux-gnu/12/cc1", Some(Toolchain::Gcc)),
            ("usr/bin/g++", Some(Toolchain::Gcc)),
            ("usr/bin/gcc-ar-12", None),
            ("usr/bin/clang-16", Some(Toolchain::Clang)),
            ("usr/local/cargo/bin/rustc", Some(Toolchain::Rust)),
            ("usr/local/go/bin/go", Some(Toolchain::Go)),
            ("usr/lib/jvm/java-17/bin/javac", Some(Toolchain::Jdk)),
            ("usr/include/stdio.h", Some(Toolchain::Headers)),
            ("usr/local/bin/pip3.12", Some(Toolchain::Pip)),
            (
                "usr/lib/python3/dist-packages/pip/__init__.py",
                Some(Toolchain::Pip),
            ),
            (
                "usr/local/lib/node_modules/npm/index.js",
                Some(Toolchain::Npm),
            ),
            ("usr/bin/gccgo-is-not-listed", None),
        ];
        for (path, want) in cases {
            assert_eq!(Toolchain::of(path.as_bytes()), want, "{path}");
        }
    }
}
