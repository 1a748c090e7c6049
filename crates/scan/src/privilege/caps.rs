//! File capabilities: the `security.capability` xattr (`struct vfs_cap_data` in
//! `linux/capability.h`, see capabilities(7) "File capabilities"), decoded into libcap's
//! text form (`cap_net_raw+ep`, the form `setcap` takes).

/// `CAP_LAST_CAP` in Linux 5.9+: `cap_checkpoint_restore`.
pub const CAP_NAMES: [&str; 41] = [
    "cap_chown",
    "cap_dac_override",
    "cap_dac_read_search",
    "cap_fowner",
    "cap_fsetid",
    "cap_kill",
    "cap_setgid",
    "cap_setuid",
    "cap_setpcap",
    "cap_linux_immutable",
    "cap_net_bind_service",
    "cap_net_broadcast",
    "cap_net_admin",
    "cap_net_raw",
    "cap_ipc_lock",
    "cap_ipc_owner",
    "cap_sys_module",
    "cap_sys_rawio",
    "cap_sys_chroot",
    "cap_sys_ptrace",
    "cap_sys_pacct",
    "cap_sys_admin",
    "cap_sys_boot",
    "cap_sys_nice",
    "cap_sys_resource",
    "cap_sys_time",
    "cap_sys_tty_config",
    "cap_mknod",
    "cap_lease",
    "cap_audit_write",
    "cap_audit_control",
    "cap_setfcap",
    "cap_mac_override",
    "cap_mac_admin",
    "cap_syslog",
    "cap_wake_alarm",
    "cap_block_suspend",
    "cap_audit_read",
    "cap_perfmon",
    "cap_bpf",
    "cap_checkpoint_restore",
];

/// Capabilities that amount to root, or to escaping the container, on their own (see
/// capabilities(7) and the "dangerous capabilities" lists of Docker's and Kubernetes'
/// hardening guides).
const DANGEROUS: &[u32] = &[
    0,  // chown
    1,  // dac_override
    2,  // dac_read_search (CVE-2014-3519 "shocker")
    3,  // fowner
    6,  // setgid
    7,  // setuid
    8,  // setpcap
    12, // net_admin
    16, // sys_module
    17, // sys_rawio
    19, // sys_ptrace
    21, // sys_admin
    22, // sys_boot
    31, // setfcap
    32, // mac_override
    33, // mac_admin
    39, // bpf
];

const VFS_CAP_REVISION_MASK: u32 = 0xff00_0000;
const VFS_CAP_FLAGS_EFFECTIVE: u32 = 0x0000_0001;
const VFS_CAP_REVISION_1: u32 = 0x0100_0000;
const VFS_CAP_REVISION_2: u32 = 0x0200_0000;
const VFS_CAP_REVISION_3: u32 = 0x0300_0000;

/// Why a `security.capability` value could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapError {
    #[error(
        "failed to decode security.capability: {len} bytes is not a known size (12, 20 or 24)"
    )]
    BadLength { len: usize },
    #[error("failed to decode security.capability: revision {revision:#010x} with {len} bytes")]
    BadRevision { revision: u32, len: usize },
}

/// A decoded `security.capability`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCaps {
    /// 1, 2 or 3 (`VFS_CAP_REVISION_*`).
    pub revision: u8,
    pub permitted: u64,
    pub inheritable: u64,
    /// The effective flag: every permitted/inheritable capability is raised at exec.
    pub effective: bool,
    /// Revision 3 (namespaced file capabilities): the uid of root in the user namespace
    /// that set them.
    pub rootid: Option<u32>,
}

fn le32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

impl FileCaps {
    /// Decodes a `vfs_cap_data` (revision 1: 12 bytes, 2: 20 bytes, 3: 24 bytes with rootid).
    pub fn decode(value: &[u8]) -> Result<Self, CapError> {
        let len = value.len();
        if !matches!(len, 12 | 20 | 24) {
            return Err(CapError::BadLength { len });
        }
        let magic = le32(value, 0);
        let revision = magic & VFS_CAP_REVISION_MASK;
        let words = match (revision, len) {
            (VFS_CAP_REVISION_1, 12) => 1,
            (VFS_CAP_REVISION_2, 20) | (VFS_CAP_REVISION_3, 24) => 2,
            _ => return Err(CapError::BadRevision { revision, len }),
        };
        let (mut permitted, mut inheritable) = (0u64, 0u64);
        for i in 0..words {
            permitted |= u64::from(le32(value, 4 + 8 * i)) << (32 * i);
            inheritable |= u64::from(le32(value, 8 + 8 * i)) << (32 * i);
        }
        Ok(Self {
            revision: (revision >> 24) as u8,
            permitted,
            inheritable,
            effective: magic & VFS_CAP_FLAGS_EFFECTIVE != 0,
            rootid: (len == 24).then(|| le32(value, 20)),
        })
    }

    /// Every capability in the permitted or inheritable set, by number.
    pub fn numbers(&self) -> Vec<u32> {
        (0..64)
            .filter(|&n| (self.permitted | self.inheritable) & (1 << n) != 0)
            .collect()
    }

    /// Every capability in either set, by name (`cap_N` for a number the kernel did not know
    /// in 6.x).
    pub fn names(&self) -> Vec<String> {
        self.numbers().into_iter().map(name).collect()
    }

    /// Whether any of them is on the dangerous list, or unknown.
    pub fn dangerous(&self) -> Vec<String> {
        self.numbers()
            .into_iter()
            .filter(|n| DANGEROUS.contains(n) || *n as usize >= CAP_NAMES.len())
            .map(name)
            .collect()
    }

    /// libcap's text form with `+` (as `setcap` takes it): capabilities with the same flags
    /// grouped, `cap_a,cap_b+ep cap_c+i`; flags in libcap's order `e`, `i`, `p`. `=` when empty.
    pub fn text(&self) -> String {
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for n in self.numbers() {
            let bit = 1u64 << n;
            let (p, i) = (self.permitted & bit != 0, self.inheritable & bit != 0);
            let mut flags = String::new();
            if self.effective {
                flags.push('e');
            }
            if i {
                flags.push('i');
            }
            if p {
                flags.push('p');
            }
            match groups.iter_mut().find(|(f, _)| *f == flags) {
                Some((_, caps)) => caps.push(name(n)),
                None => groups.push((flags, vec![name(n)])),
            }
        }
        if groups.is_empty() {
            return "=".into();
        }
        groups
            .iter()
            .map(|(flags, caps)| format!("{}+{flags}", caps.join(",")))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The name of capability `n`: `cap_net_raw`, or `cap_N` when unknown.
pub fn name(n: u32) -> String {
    CAP_NAMES
        .get(n as usize)
        .map_or_else(|| format!("cap_{n}"), |s| (*s).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `setcap cap_net_raw+ep` writes (the caps fixture's raw xattr).
    const NET_RAW_EP: [u8; 20] = [
        0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];

    #[test]
    fn decodes_revision_2() {
        let caps = FileCaps::decode(&NET_RAW_EP).expect("v2");
        assert_eq!(caps.revision, 2);
        assert!(caps.effective);
        assert_eq!(caps.names(), ["cap_net_raw"]);
        assert_eq!(caps.text(), "cap_net_raw+ep");
        assert!(caps.dangerous().is_empty());
        assert_eq!(caps.rootid, None);
    }

    #[test]
    fn decodes_revision_3_with_rootid_and_high_word() {
        let mut v = vec![0x00, 0x00, 0x00, 0x03];
        // permitted: sys_admin (21) + net_bind_service (10); inheritable: bpf (39 = bit 7 of word 2)
        v.extend_from_slice(&((1u32 << 21) | (1 << 10)).to_le_bytes());
        v.extend_from_slice(&0u32.to_le_bytes());
        v.extend_from_slice(&0u32.to_le_bytes());
        v.extend_from_slice(&(1u32 << 7).to_le_bytes());
        v.extend_from_slice(&100_000u32.to_le_bytes());
        let caps = FileCaps::decode(&v).expect("v3");
        assert_eq!(caps.revision, 3);
        assert!(!caps.effective);
        assert_eq!(caps.rootid, Some(100_000));
        assert_eq!(
            caps.names(),
            ["cap_net_bind_service", "cap_sys_admin", "cap_bpf"]
        );
        assert_eq!(
            caps.text(),
            "cap_net_bind_service,cap_sys_admin+p cap_bpf+i"
        );
        assert_eq!(caps.dangerous(), ["cap_sys_admin", "cap_bpf"]);
    }

    #[test]
    fn names_every_capability_and_unknown_bits() {
        assert_eq!(name(40), "cap_checkpoint_restore");
        assert_eq!(name(13), "cap_net_raw");
        assert_eq!(name(41), "cap_41");
        let mut v = vec![0x01, 0x00, 0x00, 0x02];
        v.extend_from_slice(&0u32.to_le_bytes());
        v.extend_from_slice(&0u32.to_le_bytes());
        v.extend_from_slice(&(1u32 << 13).to_le_bytes()); // bit 45
        v.extend_from_slice(&0u32.to_le_bytes());
        let caps = FileCaps::decode(&v).expect("v2");
        assert_eq!(caps.text(), "cap_45+ep");
        assert_eq!(caps.dangerous(), ["cap_45"]);
    }

    #[test]
    fn revision_1_and_empty_sets() {
        let v = [0x00, 0x00, 0x00, 0x01, 0x00, 0x04, 0, 0, 0x00, 0x04, 0, 0];
        let caps = FileCaps::decode(&v).expect("v1");
        assert_eq!(caps.text(), "cap_net_bind_service+ip");
        let mut empty = NET_RAW_EP;
        empty[4..8].fill(0);
        assert_eq!(FileCaps::decode(&empty).expect("v2").text(), "=");
    }

    #[test]
    fn bad_values_are_errors_not_panics() {
        for len in [0, 1, 4, 16, 19, 21, 25, 100] {
            assert_eq!(
                FileCaps::decode(&vec![0x02; len]),
                Err(CapError::BadLength { len })
            );
        }
        let mut v3_as_20 = NET_RAW_EP;
        v3_as_20[3] = 0x03;
        assert!(matches!(
            FileCaps::decode(&v3_as_20),
            Err(CapError::BadRevision { len: 20, .. })
        ));
        let mut v = [0u8; 24];
        v[3] = 0x02;
        assert!(FileCaps::decode(&v).is_err());
        let message = FileCaps::decode(&[1, 2, 3]).expect_err("bad").to_string();
        assert!(message.contains("3 bytes"), "{message}");
    }
}
