//! The parts of an ELF file the checks read, found with goblin's readers as `Elf::parse` finds
//! them, but with the string tables left as bytes: `Elf::parse` splits every string table into
//! a vector of strings, each checked to be UTF-8, and parses the relocation and version
//! sections the checks never read (a Debian scan's CPU 304 -> 296 ms without them). A name is
//! looked up only when a check asks for it.

use goblin::container::{Container, Ctx, Endian};
use goblin::elf::dynamic::{Dynamic, DT_NEEDED, DT_RPATH, DT_RUNPATH};
use goblin::elf::header::{Header, EI_CLASS, EI_DATA, ELFCLASS32, ELFCLASS64, ELFDATA2LSB};
use goblin::elf::program_header::{ProgramHeader, PT_INTERP};
use goblin::elf::reloc::RelocSection;
use goblin::elf::section_header::{SectionHeader, SHN_XINDEX, SHT_SYMTAB};
use goblin::elf::{Elf, Symtab};
use goblin::error::Error;

use crate::elf::note::Reader;

/// A string table: names end at a NUL byte.
#[derive(Debug, Default, Clone, Copy)]
pub struct Names<'a>(&'a [u8]);

impl<'a> Names<'a> {
    /// The name at `offset` (up to its NUL, or the table's end).
    pub fn get(self, offset: usize) -> Option<&'a [u8]> {
        let rest = self.0.get(offset..)?;
        Some(
            rest.iter()
                .position(|&b| b == 0)
                .map_or(rest, |end| &rest[..end]),
        )
    }

    /// Whether the name at `offset` starts with `prefix`, without finding its end.
    pub fn starts_with(self, offset: usize, prefix: &[u8]) -> bool {
        offset
            .checked_add(prefix.len())
            .and_then(|end| self.0.get(offset..end))
            == Some(prefix)
    }

    /// The name at `offset` as text (`None` if it is not UTF-8).
    pub fn text(self, offset: usize) -> Option<&'a str> {
        std::str::from_utf8(self.get(offset)?).ok()
    }
}

/// What the checks read of one ELF file.
pub struct Parsed<'a> {
    pub header: Header,
    pub is_64: bool,
    pub little_endian: bool,
    pub program_headers: Vec<ProgramHeader>,
    pub section_headers: Vec<SectionHeader>,
    pub dynamic: Option<Dynamic>,
    /// `PT_INTERP`'s path, when it is UTF-8.
    pub interpreter: Option<&'a str>,
    pub dynsyms: Symtab<'a>,
    pub dynstr: Names<'a>,
    /// `.symtab` (absent when stripped) and its names.
    pub syms: Symtab<'a>,
    pub strtab: Names<'a>,
}

impl<'a> Parsed<'a> {
    /// Parses `bytes` as `Elf::parse` does (the same readers, bounds and errors) for the parts
    /// the checks read.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        let header = Elf::parse_header(bytes)?;
        let class = header.e_ident[EI_CLASS];
        if class != ELFCLASS64 && class != ELFCLASS32 {
            return Err(Error::Malformed(format!(
                "Unknown values in ELF ident header: class: {class} endianness: {}",
                header.e_ident[EI_DATA]
            )));
        }
        let is_64 = class == ELFCLASS64;
        let little_endian = header.e_ident[EI_DATA] == ELFDATA2LSB;
        let container = if is_64 {
            Container::Big
        } else {
            Container::Little
        };
        let ctx = Ctx::new(container, Endian::from(little_endian));

        let program_headers =
            ProgramHeader::parse(bytes, header.e_phoff as usize, header.e_phnum as usize, ctx)?;
        let interpreter = program_headers
            .iter()
            .rfind(|p| p.p_type == PT_INTERP && p.p_filesz != 0)
            .and_then(|p| {
                let start = usize::try_from(p.p_offset).ok()?;
                let len = usize::try_from(p.p_filesz - 1).ok()?;
                std::str::from_utf8(bytes.get(start..start.checked_add(len)?)?).ok()
            });
        let section_headers =
            SectionHeader::parse(bytes, header.e_shoff as usize, header.e_shnum as usize, ctx)?;

        let (mut syms, mut strtab) = (Symtab::default(), Names::default());
        if let Some(shdr) = section_headers.iter().rfind(|s| s.sh_type == SHT_SYMTAB) {
            let count = shdr.sh_size.checked_div(shdr.sh_entsize).unwrap_or(0);
            syms = Symtab::parse(bytes, shdr.sh_offset as usize, count as usize, ctx)?;
            strtab = section_names(bytes, &section_headers, shdr.sh_link as usize)?;
        }

        let dynamic = Dynamic::parse(bytes, &program_headers, ctx)?;
        let (mut dynsyms, mut dynstr) = (Symtab::default(), Names::default());
        if let Some(dynamic) = &dynamic {
            let info = &dynamic.info;
            dynstr = Names(table(bytes, info.strtab, info.strsz)?);
            let mut count = if let Some(gnu_hash) = info.gnu_hash {
                gnu_hash_len(bytes, gnu_hash as usize, ctx)?
            } else if let Some(hash) = info.hash {
                hash_len(bytes, hash as usize, header.e_machine, ctx)?
            } else {
                0
            };
            // Symbols a relocation names are in the table too, hashed or not.
            let is_rela = info.pltrel == goblin::elf::dynamic::DT_RELA;
            let mut max_sym = 0;
            for (at, size, rela) in [
                (info.rela, info.relasz, true),
                (info.rel, info.relsz, false),
                (info.jmprel, info.pltrelsz, is_rela),
            ] {
                let section = RelocSection::parse(bytes, at, size, rela, ctx)?;
                max_sym = section.iter().fold(max_sym, |m, r| m.max(r.r_sym));
            }
            if max_sym != 0 {
                count = count.max(max_sym + 1);
            }
            dynsyms = Symtab::parse(bytes, info.symtab, count, ctx)?;
        }

        Ok(Self {
            header,
            is_64,
            little_endian,
            program_headers,
            section_headers,
            dynamic,
            interpreter,
            dynsyms,
            dynstr,
            syms,
            strtab,
        })
    }

    /// Whether the dynamic section names a soname.
    pub fn has_soname(&self) -> bool {
        self.dynamic
            .as_ref()
            .is_some_and(|d| d.info.soname != 0 && self.dynstr.get(d.info.soname).is_some())
    }

    /// Whether the file needs a library (a `DT_NEEDED` naming one).
    pub fn needs_libraries(&self) -> bool {
        self.dynamic.as_ref().is_some_and(|d| {
            d.info.needed_count > 0
                && d.dyns
                    .iter()
                    .any(|e| e.d_tag == DT_NEEDED && self.dynstr.get(e.d_val as usize).is_some())
        })
    }

    /// The `DT_RPATH` (or `DT_RUNPATH`) strings, in order.
    pub fn search_paths(&self, tag: u64) -> Vec<&'a str> {
        debug_assert!(tag == DT_RPATH || tag == DT_RUNPATH);
        self.dynamic.as_ref().map_or_else(Vec::new, |d| {
            d.dyns
                .iter()
                .filter(|e| e.d_tag == tag)
                .filter_map(|e| self.dynstr.text(e.d_val as usize))
                .collect()
        })
    }
}

/// `len` bytes at `offset`, or the error `Strtab::parse` gives.
fn table(bytes: &[u8], offset: usize, len: usize) -> Result<&[u8], Error> {
    if offset > bytes.len() {
        return Err(Error::Malformed(format!(
            "String table offset ({offset}) is beyond file boundary ({})",
            bytes.len()
        )));
    }
    offset
        .checked_add(len)
        .and_then(|end| bytes.get(offset..end))
        .ok_or_else(|| {
            Error::Malformed(format!(
                "Strtable size ({len}) + offset ({offset}) is out of bounds for {} #bytes",
                bytes.len()
            ))
        })
}

/// The string table in section `index`, as `Elf::parse` finds a section's string table.
fn section_names<'a>(
    bytes: &'a [u8],
    sections: &[SectionHeader],
    mut index: usize,
) -> Result<Names<'a>, Error> {
    if index == SHN_XINDEX as usize {
        match sections.first() {
            Some(first) => index = first.sh_link as usize,
            None => return Ok(Names::default()),
        }
    }
    let Some(shdr) = sections.get(index) else {
        return Ok(Names::default());
    };
    shdr.check_size(bytes.len())?;
    Ok(Names(table(
        bytes,
        shdr.sh_offset as usize,
        shdr.sh_size as usize,
    )?))
}

fn read_u32(bytes: &[u8], at: usize, ctx: Ctx) -> Result<u32, Error> {
    let reader = Reader {
        little: ctx.le.is_little(),
    };
    reader
        .u32_at(bytes, at)
        .ok_or_else(|| Error::Malformed(format!("hash table read at {at} is out of bounds")))
}

/// The number of symbols a `DT_GNU_HASH` table covers (as goblin counts them).
fn gnu_hash_len(bytes: &[u8], offset: usize, ctx: Ctx) -> Result<usize, Error> {
    let buckets = read_u32(bytes, offset, ctx)? as usize;
    let min_chain = read_u32(bytes, offset.saturating_add(4), ctx)? as usize;
    let bloom_size = read_u32(bytes, offset.saturating_add(8), ctx)? as usize;
    if buckets == 0 || min_chain == 0 || bloom_size == 0 {
        return Err(Error::Malformed(format!(
            "Invalid DT_GNU_HASH: buckets_num={buckets} min_chain={min_chain} bloom_size={bloom_size}"
        )));
    }
    let word = if ctx.container.is_big() { 8 } else { 4 };
    let overflow = || Error::Malformed("DT_GNU_HASH out of bounds".to_owned());
    let buckets_at = bloom_size
        .checked_mul(word)
        .and_then(|b| b.checked_add(offset)?.checked_add(16))
        .ok_or_else(overflow)?;
    let mut max_chain = 0;
    for bucket in 0..buckets {
        let at = bucket
            .checked_mul(4)
            .and_then(|b| b.checked_add(buckets_at))
            .ok_or_else(overflow)?;
        max_chain = max_chain.max(read_u32(bytes, at, ctx)? as usize);
    }
    if max_chain < min_chain {
        return Ok(0);
    }
    // The last chain ends at the entry whose low bit is set.
    let mut at = (max_chain - min_chain)
        .checked_mul(4)
        .and_then(|c| {
            c.checked_add(buckets.checked_mul(4)?)?
                .checked_add(buckets_at)
        })
        .ok_or_else(overflow)?;
    loop {
        let hash = read_u32(bytes, at, ctx)?;
        max_chain += 1;
        at = at.checked_add(4).ok_or_else(overflow)?;
        if hash & 1 != 0 {
            return Ok(max_chain);
        }
    }
}

/// The number of symbols a `DT_HASH` table covers: its chain count.
fn hash_len(bytes: &[u8], offset: usize, machine: u16, ctx: Ctx) -> Result<usize, Error> {
    use goblin::elf::header::{EM_FAKE_ALPHA, EM_S390};
    let at = offset.saturating_add(4);
    if (machine == EM_FAKE_ALPHA || machine == EM_S390) && ctx.container.is_big() {
        let raw: [u8; 8] = at
            .checked_add(8)
            .and_then(|end| bytes.get(at..end))
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| Error::Malformed("DT_HASH out of bounds".to_owned()))?;
        let n = if ctx.le.is_little() {
            u64::from_le_bytes(raw)
        } else {
            u64::from_be_bytes(raw)
        };
        return Ok(n as usize);
    }
    Ok(read_u32(bytes, at, ctx)? as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_end_at_nul_or_at_the_end_of_the_table() {
        let names = Names(b"\0__stack_chk_fail\0main\0tail");
        assert_eq!(names.get(0), Some(&b""[..]));
        assert_eq!(names.get(1), Some(&b"__stack_chk_fail"[..]));
        assert_eq!(names.get(9), Some(&b"chk_fail"[..]));
        assert_eq!(names.get(23), Some(&b"tail"[..]));
        assert_eq!(names.get(27), Some(&b""[..]));
        assert_eq!(names.get(28), None);
        assert!(names.starts_with(1, b"__"));
        assert!(!names.starts_with(18, b"__"));
        assert!(!names.starts_with(26, b"__"));
        assert_eq!(names.text(18), Some("main"));
    }
}
