//! The x86 feature bits of the GNU property note (`.note.gnu.property`), read from the
//! `PT_GNU_PROPERTY` segment, or from the `PT_NOTE` segments of files linked before it existed.
//! Layout: the "Linux Extensions to gABI", section "Program Property"
//! (<https://gitlab.com/x86-psABIs/Linux-ABI>).

use crate::elf::parsed::Parsed;
use goblin::elf::program_header::{PT_GNU_PROPERTY, PT_NOTE};

/// `NT_GNU_PROPERTY_TYPE_0`: a note holding an array of program properties.
const NT_GNU_PROPERTY_TYPE_0: u32 = 5;
/// `GNU_PROPERTY_X86_FEATURE_1_AND`: features every linked object supports.
const GNU_PROPERTY_X86_FEATURE_1_AND: u32 = 0xc000_0002;
/// Indirect branch tracking (endbr at every indirect branch target).
pub const X86_FEATURE_1_IBT: u32 = 1;
/// Shadow stack.
pub const X86_FEATURE_1_SHSTK: u32 = 2;

/// The `GNU_PROPERTY_X86_FEATURE_1_AND` bits, or `None` when the file has no such property.
pub fn x86_features(elf: &Parsed<'_>, bytes: &[u8]) -> Option<u32> {
    let property: Vec<_> = elf
        .program_headers
        .iter()
        .filter(|p| p.p_type == PT_GNU_PROPERTY)
        .collect();
    let segments = if property.is_empty() {
        elf.program_headers
            .iter()
            .filter(|p| p.p_type == PT_NOTE)
            .collect()
    } else {
        property
    };
    let reader = Reader {
        little: elf.little_endian,
    };
    let property_align = if elf.is_64 { 8 } else { 4 };
    segments.into_iter().find_map(|segment| {
        let start = usize::try_from(segment.p_offset).ok()?;
        let len = usize::try_from(segment.p_filesz).ok()?;
        let data = bytes.get(start..start.checked_add(len)?)?;
        // Notes in an 8-byte aligned segment pad name and descriptor to 8.
        let note_align = if segment.p_align == 8 { 8 } else { 4 };
        reader.feature_1_and(data, note_align, property_align)
    })
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader {
    pub(crate) little: bool,
}

impl Reader {
    pub(crate) fn u32_at(self, data: &[u8], at: usize) -> Option<u32> {
        let raw: [u8; 4] = data.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if self.little {
            u32::from_le_bytes(raw)
        } else {
            u32::from_be_bytes(raw)
        })
    }

    /// Walks the notes of one segment for the GNU property note and its x86 feature bits.
    fn feature_1_and(self, data: &[u8], note_align: usize, property_align: usize) -> Option<u32> {
        let mut at = 0usize;
        while at.checked_add(12)? <= data.len() {
            let name_len = usize::try_from(self.u32_at(data, at)?).ok()?;
            let desc_len = usize::try_from(self.u32_at(data, at + 4)?).ok()?;
            let kind = self.u32_at(data, at + 8)?;
            let name_start = at + 12;
            let name_end = name_start.checked_add(name_len)?;
            let desc_start = align_up(name_end, note_align)?;
            let desc_end = desc_start.checked_add(desc_len)?;
            let name = data.get(name_start..name_end)?;
            let desc = data.get(desc_start..desc_end)?;
            if kind == NT_GNU_PROPERTY_TYPE_0 && name == b"GNU\0" {
                if let Some(bits) = self.property(desc, property_align) {
                    return Some(bits);
                }
            }
            at = align_up(desc_end, note_align)?;
        }
        None
    }

    /// Finds `GNU_PROPERTY_X86_FEATURE_1_AND` in a property array.
    fn property(self, desc: &[u8], align: usize) -> Option<u32> {
        let mut at = 0usize;
        while at.checked_add(8)? <= desc.len() {
            let kind = self.u32_at(desc, at)?;
            let size = usize::try_from(self.u32_at(desc, at + 4)?).ok()?;
            let data_start = at + 8;
            if kind == GNU_PROPERTY_X86_FEATURE_1_AND && size >= 4 {
                return self.u32_at(desc, data_start);
            }
            at = align_up(data_start.checked_add(size)?, align)?;
        }
        None
    }
}

fn align_up(value: usize, align: usize) -> Option<usize> {
    Some(value.checked_add(align - 1)? / align * align)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(props: &[(u32, u32)]) -> Vec<u8> {
        let mut desc = Vec::new();
        for &(kind, value) in props {
            desc.extend(kind.to_le_bytes());
            desc.extend(4u32.to_le_bytes());
            desc.extend(value.to_le_bytes());
            desc.extend([0; 4]);
        }
        let mut out = Vec::new();
        out.extend(4u32.to_le_bytes());
        out.extend((desc.len() as u32).to_le_bytes());
        out.extend(NT_GNU_PROPERTY_TYPE_0.to_le_bytes());
        out.extend(b"GNU\0");
        out.extend(desc);
        out
    }

    #[test]
    fn reads_the_x86_feature_bits_after_other_properties() {
        let data = note(&[(0xc000_8002, 1), (GNU_PROPERTY_X86_FEATURE_1_AND, 3)]);
        let reader = Reader { little: true };
        assert_eq!(reader.feature_1_and(&data, 8, 8), Some(3));
    }

    #[test]
    fn truncated_or_lying_notes_give_nothing() {
        let data = note(&[(GNU_PROPERTY_X86_FEATURE_1_AND, 3)]);
        let reader = Reader { little: true };
        for cut in 0..data.len() {
            assert_eq!(reader.feature_1_and(&data[..cut], 8, 8), None, "cut {cut}");
        }
        let mut lying = data.clone();
        lying[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(reader.feature_1_and(&lying, 8, 8), None);
    }
}
