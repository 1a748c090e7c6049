//! Where in a buffer a keyword can be at all. Every keyword byte is in a small set (the keywords'
//! bytes, in either case), and every keyword is at least `run` bytes long: a keyword occurrence
//! lies inside a run of at least `run` bytes of the set. The stretches of 32-byte blocks that
//! hold such runs are the buffer's spans; the rest cannot hold a keyword. In executables that is
//! most of the buffer: 72 % of a Debian image's ELF bytes are in blocks without such a run, 25 %
//! of its text files' bytes.
//!
//! Searching each span from the start state finds exactly what a search of the whole buffer
//! finds in it: an occurrence's bytes are all in one run, so none starts before its span.
//!
//! The set is tested 32 bytes at a time with AVX2 where the CPU has it (detected at run time;
//! pulp keeps the code safe), by a table lookup otherwise.

/// Bytes per mask word.
const WORD: usize = 64;
/// Bytes per block: a block is in a span or not as a whole.
const BLOCK: usize = 32;
/// Mask words computed at a time (a 4 KiB page of the buffer).
const PAGE_WORDS: usize = 64;
/// Runs longer than this are not required: the test would cost more shifts than it saves.
const MAX_RUN: usize = 8;

/// A set of bytes, tested over a buffer a mask word (64 bytes) at a time.
#[derive(Debug, Clone)]
pub struct ByteSet {
    member: [bool; 256],
    /// Per low nibble: bit `h` set when `h << 4 | low` is a member, for high nibbles 0–7.
    low_rows: [u8; 16],
    /// The same for high nibbles 8–15 (bit `h - 8`).
    high_rows: [u8; 16],
    #[cfg(target_arch = "x86_64")]
    avx2: Option<pulp::x86::V3>,
}

impl ByteSet {
    pub fn new(member: [bool; 256]) -> Self {
        let mut low_rows = [0u8; 16];
        let mut high_rows = [0u8; 16];
        for (byte, _) in member.iter().enumerate().filter(|(_, &m)| m) {
            let (high, low) = (byte >> 4, byte & 15);
            if high < 8 {
                low_rows[low] |= 1 << high;
            } else {
                high_rows[low] |= 1 << (high - 8);
            }
        }
        Self {
            member,
            low_rows,
            high_rows,
            #[cfg(target_arch = "x86_64")]
            avx2: pulp::x86::V3::try_new(),
        }
    }

    /// The same set tested without SIMD (so tests cover the table path on any CPU).
    #[cfg(test)]
    pub fn without_simd(self) -> Self {
        Self {
            #[cfg(target_arch = "x86_64")]
            avx2: None,
            ..self
        }
    }

    /// Whether the set is tested with SIMD on this CPU.
    pub fn has_simd(&self) -> bool {
        #[cfg(target_arch = "x86_64")]
        return self.avx2.is_some();
        #[cfg(not(target_arch = "x86_64"))]
        false
    }

    pub fn contains(&self, byte: u8) -> bool {
        self.member[usize::from(byte)]
    }

    /// Fills `out[w]` for each 64 bytes of `bytes`: bit `i` is set when `bytes[64 * w + i]` is
    /// in the set (bits past the end clear). Returns the words written.
    pub fn masks(&self, bytes: &[u8], out: &mut [u64]) -> usize {
        let words = bytes.len().div_ceil(WORD);
        assert!(
            out.len() >= words,
            "{} mask words for {} bytes",
            out.len(),
            bytes.len()
        );
        let mut done = 0;
        #[cfg(target_arch = "x86_64")]
        if let Some(simd) = self.avx2 {
            done = bytes.len() / WORD;
            self.masks_avx2(simd, &bytes[..done * WORD], &mut out[..done]);
        }
        for (slot, block) in out[done..words]
            .iter_mut()
            .zip(bytes[done * WORD..].chunks(WORD))
        {
            *slot = block
                .iter()
                .enumerate()
                .fold(0, |m, (i, &b)| m | (u64::from(self.contains(b)) << i));
        }
        words
    }

    /// The nibble test: a byte is a member when the row of its low nibble (chosen by its top
    /// bit) has the bit of its high nibble (mod 8).
    #[cfg(target_arch = "x86_64")]
    fn masks_avx2(&self, simd: pulp::x86::V3, bytes: &[u8], out: &mut [u64]) {
        let twice = |row: [u8; 16]| -> Avx2Bytes {
            let mut both = [0u8; 32];
            both[..16].copy_from_slice(&row);
            both[16..].copy_from_slice(&row);
            pulp::cast(both)
        };
        let tables = NibbleTables {
            low_rows: twice(self.low_rows),
            high_rows: twice(self.high_rows),
            bits: twice(std::array::from_fn(|h| 1u8 << (h % 8))),
        };
        simd.vectorize(
            #[inline(always)]
            || {
                for (slot, block) in out.iter_mut().zip(bytes.chunks_exact(WORD)) {
                    let low = mask32(simd, &tables, &block[..32]);
                    let high = mask32(simd, &tables, &block[32..]);
                    *slot = low | (high << 32);
                }
            },
        );
    }
}

#[cfg(target_arch = "x86_64")]
type Avx2Bytes = std::arch::x86_64::__m256i;

#[cfg(target_arch = "x86_64")]
struct NibbleTables {
    low_rows: Avx2Bytes,
    high_rows: Avx2Bytes,
    bits: Avx2Bytes,
}

/// Bit i: `chunk[i]` (32 bytes) is a member. Always inlined: only the function `vectorize`
/// makes has AVX2 enabled, and the intrinsics are only inlined into such a function.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn mask32(simd: pulp::x86::V3, tables: &NibbleTables, chunk: &[u8]) -> u64 {
    let v: Avx2Bytes = pulp::cast(<[u8; 32]>::try_from(chunk).expect("32 bytes"));
    let nibble = simd.avx._mm256_set1_epi8(0x0f);
    let low = simd.avx2._mm256_and_si256(v, nibble);
    let high = simd
        .avx2
        ._mm256_and_si256(simd.avx2._mm256_srli_epi16::<4>(v), nibble);
    let row = simd.avx2._mm256_blendv_epi8(
        simd.avx2._mm256_shuffle_epi8(tables.low_rows, low),
        simd.avx2._mm256_shuffle_epi8(tables.high_rows, low),
        v,
    );
    let bit = simd.avx2._mm256_shuffle_epi8(tables.bits, high);
    let hit = simd
        .avx2
        ._mm256_cmpeq_epi8(simd.avx2._mm256_and_si256(row, bit), bit);
    u64::from(simd.avx2._mm256_movemask_epi8(hit) as u32)
}

/// The spans of a buffer that can hold a keyword: the blocks with a run of at least `run` bytes
/// of `set`.
#[derive(Debug, Clone)]
pub struct SpanFinder {
    set: ByteSet,
    run: usize,
}

impl SpanFinder {
    /// `run`: the shortest keyword's length (at least 1; capped, a shorter run is still exact).
    pub fn new(set: ByteSet, run: usize) -> Self {
        Self {
            set,
            run: run.clamp(1, MAX_RUN),
        }
    }

    #[cfg(test)]
    pub fn set(&self) -> &ByteSet {
        &self.set
    }

    #[cfg(test)]
    pub fn run(&self) -> usize {
        self.run
    }

    /// Calls `span(start, end)` for each span of `bytes`, in order; spans do not touch.
    pub fn for_each_span(&self, bytes: &[u8], span: impl FnMut(usize, usize)) {
        // The run's length a constant: its shifts unrolled (a loop over them cost as much as
        // the SIMD test).
        match self.run {
            1 => self.spans::<1>(bytes, span),
            2 => self.spans::<2>(bytes, span),
            3 => self.spans::<3>(bytes, span),
            4 => self.spans::<4>(bytes, span),
            5 => self.spans::<5>(bytes, span),
            6 => self.spans::<6>(bytes, span),
            7 => self.spans::<7>(bytes, span),
            _ => self.spans::<MAX_RUN>(bytes, span),
        }
    }

    fn spans<const RUN: usize>(&self, bytes: &[u8], mut span: impl FnMut(usize, usize)) {
        let words = bytes.len().div_ceil(WORD);
        let mut masks = [0u64; PAGE_WORDS + 1];
        let mut runs_before = 0u64;
        let mut open: Option<(usize, usize)> = None;
        let mut first = 0;
        while first < words {
            let count = (words - first).min(PAGE_WORDS);
            // One word more than the page: a run may go on into it.
            let page = &bytes[first * WORD..((first + count + 1) * WORD).min(bytes.len())];
            let filled = self.set.masks(page, &mut masks);
            masks[filled..].fill(0);
            // Bit b: block b of the page is needed (two a word), set without branches: which
            // blocks of an executable are needed is close to random.
            let mut needed = [0u64; PAGE_WORDS / 32];
            for k in 0..count {
                let runs = run_starts::<RUN>(masks[k], masks[k + 1]);
                let live = covered::<RUN>(runs, runs_before);
                runs_before = runs;
                let pair = u64::from(live as u32 != 0) | (u64::from(live >> 32 != 0) << 1);
                needed[k / 32] |= pair << (2 * (k % 32));
            }
            for (i, &bits) in needed.iter().enumerate() {
                let first_block = first * (WORD / BLOCK) + i * 64;
                let mut bits = bits;
                while bits != 0 {
                    let from = bits.trailing_zeros() as usize;
                    let count = (!(bits >> from)).trailing_zeros() as usize;
                    let start = (first_block + from) * BLOCK;
                    let end = ((first_block + from + count) * BLOCK).min(bytes.len());
                    match &mut open {
                        Some((_, e)) if *e == start => *e = end,
                        _ => {
                            if let Some((s, e)) = open.replace((start, end)) {
                                span(s, e);
                            }
                        }
                    }
                    bits &= u64::MAX.checked_shl((from + count) as u32).unwrap_or(0);
                }
            }
            first += count;
        }
        if let Some((s, e)) = open {
            span(s, e);
        }
    }
}

/// Bit i: a run of `RUN` members starts at bit i of `word` (`next`: the word after it).
#[inline(always)]
fn run_starts<const RUN: usize>(word: u64, next: u64) -> u64 {
    (1..RUN).fold(word, |r, k| r & ((word >> k) | (next << (WORD - k))))
}

/// Bit i: byte i of the word is in a run, of those starting in it (`runs`) or in the word
/// before (`runs_before`).
#[inline(always)]
fn covered<const RUN: usize>(runs: u64, runs_before: u64) -> u64 {
    (1..RUN).fold(runs, |c, k| c | (runs << k) | (runs_before >> (WORD - k)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
        let mut state = seed | 1;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    #[test]
    fn every_byte_of_every_set_is_tested_as_the_table_says() {
        let sets: Vec<[bool; 256]> = vec![
            [false; 256],
            [true; 256],
            std::array::from_fn(|b| (b as u8).is_ascii_alphanumeric() || b == usize::from(b'_')),
            std::array::from_fn(|b| b >= 0x80 || b % 7 == 3),
            std::array::from_fn(|b| random_bytes(256, 99)[b] % 3 == 0),
        ];
        let cases = sets
            .into_iter()
            .flat_map(|m| [ByteSet::new(m), ByteSet::new(m).without_simd()]);
        for (s, set) in cases.enumerate() {
            // Every byte value in every position of a word, and lengths that end mid-word.
            let mut bytes: Vec<u8> = (0..=255u8).cycle().take(64 * 256 + 64).collect();
            bytes.extend(random_bytes(10_000, s as u64 + 1));
            for len in [0, 1, 31, 32, 63, 64, 65, 100, bytes.len()] {
                let mut masks = vec![u64::MAX; len.div_ceil(64) + 1];
                let words = set.masks(&bytes[..len], &mut masks);
                assert_eq!(words, len.div_ceil(64), "set {s}, len {len}");
                for (i, &b) in bytes[..len].iter().enumerate() {
                    let bit = masks[i / 64] >> (i % 64) & 1 == 1;
                    assert_eq!(bit, set.contains(b), "set {s}, byte {b:#x} at {i}");
                }
                if words > 0 {
                    let used = len - (words - 1) * 64;
                    let last = masks[words - 1];
                    assert_eq!(
                        last.checked_shr(used as u32).unwrap_or(0),
                        0,
                        "set {s}, len {len}"
                    );
                }
            }
        }
    }

    /// The blocks that hold a byte of a run of `run` members, counted byte by byte.
    fn spans_by_hand(set: &ByteSet, run: usize, bytes: &[u8]) -> Vec<(usize, usize)> {
        let mut live = vec![false; bytes.len()];
        for start in 0..bytes.len().saturating_sub(run - 1) {
            if bytes[start..start + run].iter().all(|&b| set.contains(b)) {
                live[start..start + run].fill(true);
            }
        }
        let mut spans: Vec<(usize, usize)> = Vec::new();
        for (b, block) in live.chunks(BLOCK).enumerate() {
            if block.iter().any(|&l| l) {
                let (start, end) = (b * BLOCK, b * BLOCK + block.len());
                match spans.last_mut() {
                    Some(last) if last.1 == start => last.1 = end,
                    _ => spans.push((start, end)),
                }
            }
        }
        spans
    }

    #[test]
    fn spans_are_the_blocks_that_hold_a_run() {
        let letters: [bool; 256] = std::array::from_fn(|b| (b as u8).is_ascii_lowercase());
        for simd in [true, false] {
            let set = if simd {
                ByteSet::new(letters)
            } else {
                ByteSet::new(letters).without_simd()
            };
            for run in [1, 2, 3, 5, 8] {
                let finder = SpanFinder::new(set.clone(), run);
                for seed in 1..40u64 {
                    // Sparse letters (short runs, runs across block and word edges) and dense.
                    let len = (seed as usize * 977) % 9000;
                    let bytes: Vec<u8> = random_bytes(len, seed)
                        .into_iter()
                        .map(|b| {
                            if b % (2 + seed as u8 % 5) == 0 {
                                b'a' + b % 26
                            } else {
                                b % 0x60
                            }
                        })
                        .collect();
                    let mut found = Vec::new();
                    finder.for_each_span(&bytes, |s, e| found.push((s, e)));
                    assert_eq!(
                        found,
                        spans_by_hand(&set, run, &bytes),
                        "run {run}, seed {seed}"
                    );
                }
                // A run across each word and page edge, alone in its buffer.
                for at in [
                    WORD - 1,
                    2 * WORD - 2,
                    PAGE_WORDS * WORD - 1,
                    PAGE_WORDS * WORD + 5,
                ] {
                    let mut bytes = vec![0u8; PAGE_WORDS * WORD * 2 + 7];
                    bytes[at..at + run].fill(b'q');
                    let mut found = Vec::new();
                    finder.for_each_span(&bytes, |s, e| found.push((s, e)));
                    assert_eq!(found, spans_by_hand(&set, run, &bytes), "run {run} at {at}");
                    assert!(!found.is_empty());
                }
            }
        }
    }
}
