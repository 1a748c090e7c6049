//! The hardened runtime behind `rharden run`. Filled by the runtime issue.
