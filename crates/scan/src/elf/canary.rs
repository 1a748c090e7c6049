//! Proof of a stack canary in a file that does not import `__stack_chk_fail`: a static binary
//! above all, where the C library's own `__stack_chk_fail` is always linked in, so its presence
//! proves nothing about the program. What does: the program's `main` reading the guard where
//! the x86 ABIs keep it, `%fs:0x28` (x86-64) or `%gs:0x14` (i386), as a protected function does
//! on entry.

use goblin::elf::header::{EM_386, EM_X86_64};
use goblin::elf::program_header::PT_LOAD;
use goblin::elf::sym::STT_FUNC;

use crate::elf::parsed::Parsed;

/// Why the binary has a canary, when its `main` proves it.
pub fn static_proof(elf: &Parsed<'_>, bytes: &[u8]) -> Option<String> {
    let machine = elf.header.e_machine;
    if machine != EM_X86_64 && machine != EM_386 {
        return None;
    }
    let main = elf.syms.iter().find(|s| {
        s.st_type() == STT_FUNC && s.st_size > 0 && elf.strtab.get(s.st_name) == Some(b"main")
    })?;
    let code = code_at(elf, bytes, main.st_value, main.st_size)?;
    let found = if machine == EM_X86_64 {
        code.windows(9).any(reads_fs_0x28)
    } else {
        code.windows(7).any(reads_gs_0x14)
    };
    found.then(|| {
        let guard = if machine == EM_X86_64 {
            "%fs:0x28"
        } else {
            "%gs:0x14"
        };
        format!("main reads the stack guard ({guard}) to check its canary")
    })
}

/// The file bytes of `size` bytes at virtual address `addr`, from the loadable segment holding them.
fn code_at<'a>(elf: &Parsed<'_>, bytes: &'a [u8], addr: u64, size: u64) -> Option<&'a [u8]> {
    let segment = elf.program_headers.iter().find(|p| {
        p.p_type == PT_LOAD
            && addr >= p.p_vaddr
            && addr
                .checked_add(size)
                .is_some_and(|end| end <= p.p_vaddr.saturating_add(p.p_filesz))
    })?;
    let start = usize::try_from(segment.p_offset.checked_add(addr - segment.p_vaddr)?).ok()?;
    let end = start.checked_add(usize::try_from(size).ok()?)?;
    bytes.get(start..end)
}

/// `mov`/`sub`/`xor` of a 64-bit register with `%fs:0x28`: `64 48|4c 8b|2b|33 modrm 25 28 00 00 00`
/// where the ModRM byte selects a SIB with no base (`mod=00, rm=100`) and the SIB is `0x25`.
fn reads_fs_0x28(w: &[u8]) -> bool {
    matches!(w, [0x64, 0x48 | 0x4c, 0x8b | 0x2b | 0x33, modrm, 0x25, 0x28, 0, 0, 0] if modrm & 0xc7 == 0x04)
}

/// `mov %gs:0x14,%eax` (`65 a1 14 00 00 00`) or to another register (`65 8b modrm 14 00 00 00`).
fn reads_gs_0x14(w: &[u8]) -> bool {
    matches!(w, [0x65, 0xa1, 0x14, 0, 0, 0, _])
        || matches!(w, [0x65, 0x8b, modrm, 0x14, 0, 0, 0] if modrm & 0xc7 == 0x05)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_guard_loads_gcc_emits() {
        // mov %fs:0x28,%rax / mov %fs:0x28,%rdx / sub %fs:0x28,%rdx
        assert!(reads_fs_0x28(&[
            0x64, 0x48, 0x8b, 0x04, 0x25, 0x28, 0, 0, 0
        ]));
        assert!(reads_fs_0x28(&[
            0x64, 0x48, 0x8b, 0x14, 0x25, 0x28, 0, 0, 0
        ]));
        assert!(reads_fs_0x28(&[
            0x64, 0x48, 0x2b, 0x14, 0x25, 0x28, 0, 0, 0
        ]));
        // %fs:0x30 is the pointer guard, not the stack guard.
        assert!(!reads_fs_0x28(&[
            0x64, 0x48, 0x8b, 0x04, 0x25, 0x30, 0, 0, 0
        ]));
        assert!(reads_gs_0x14(&[0x65, 0xa1, 0x14, 0, 0, 0, 0x90]));
        assert!(reads_gs_0x14(&[0x65, 0x8b, 0x15, 0x14, 0, 0, 0]));
    }
}
